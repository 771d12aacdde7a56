//! What `--help` shows after the options: examples, as kubectl shows them (a `#` line saying
//! what, then the command, indented), and the exit codes. Macros, so that each subcommand's
//! text is one literal made with `concat!`.

/// The exit codes, as `--help` shows them.
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  the command succeeded; for logs -f, run and cancel: the Build succeeded (or was cancelled)
  1  the Build failed (the last line names the failed step, the reason and the message);
     validate and render: a problem was found; provenance: the Build has not succeeded or
     reported no image
  2  usage error, the Build cannot be found or read, or the cluster cannot be reached"
    };
}

/// `Examples:` and `examples`, then the exit codes.
macro_rules! examples {
    ($examples:literal) => {
        concat!("Examples:\n", $examples, "\n\n", exit_codes!())
    };
}

macro_rules! root_help {
    () => {
        examples!(
            "  # Follow a Build to its end, each step's lines prefixed [step]
  kubectl build logs -f kubeval-img

  # The Builds of the namespace, newest first, with the step that failed each
  kubectl build list

  # Run the img template on a git repository and follow the Build
  kubectl build run --template img --arg IMAGE=garethr/kubeval --git https://github.com/garethr/kubeval.git@master"
        )
    };
}

macro_rules! logs_help {
    () => {
        examples!(
            "  # Follow a Build: wait for its pod, stream each step as it starts, exit when it ends
  kubectl build logs -f kubeval-img

  # The last 20 lines of one step, with the time of each
  kubectl build logs kubeval-img --step push --tail 20 --timestamps

  # Every container, the credential initializer and the source fetchers included
  kubectl build logs kubeval-img --all"
        )
    };
}

macro_rules! list_help {
    () => {
        examples!(
            "  # The Builds of the namespace, newest first
  kubectl build list

  # Those of every namespace, with the pod, the template and the ServiceAccount of each
  kubectl build list -A -o wide

  # The Builds labelled app=kubeval, then a line each time one changes
  kubectl build list -l app=kubeval -w

  # Their names, for a script
  kubectl build list -o name"
        )
    };
}

macro_rules! describe_help {
    () => {
        examples!(
            "  # Status, pod, credentials, sources, template, steps and Events of a Build
  kubectl build describe kubeval-img

  # The same as data, for a script: the step that failed it
  kubectl build describe kubeval-img -o json | jq -r .failedStep"
        )
    };
}

macro_rules! run_help {
    () => {
        examples!(
            "  # Run the img template on a git repository and follow the Build
  kubectl build run --template img --arg IMAGE=garethr/kubeval \\
    --git https://github.com/garethr/kubeval.git@master --service-account build-bot

  # Create the Build a file holds and follow it
  kubectl build run -f kubeval-img.yaml

  # Only create a Build from a ClusterBuildTemplate, and print its name
  kubectl build run --template kaniko --cluster-template --arg IMAGE=registry.example.com/app --detach"
        )
    };
}

macro_rules! cancel_help {
    () => {
        examples!(
            "  # Cancel a Build and wait until the controller has stopped it
  kubectl build cancel kubeval-img

  # Only ask for the cancel
  kubectl build cancel kubeval-img --no-wait"
        )
    };
}

macro_rules! provenance_help {
    () => {
        examples!(
            "  # The provenance of a succeeded Build, as an in-toto statement
  kubectl build provenance kubeval-img

  # Signed as a DSSE envelope with an Ed25519 or P-256 key (PEM PKCS#8)
  kubectl build provenance kubeval-img --key cosign.key | tee kubeval-img.intoto.json"
        )
    };
}

macro_rules! validate_help {
    () => {
        examples!(
            "  # Check every YAML file of a directory, without a cluster
  kubectl build validate examples/seed/"
        )
    };
}

macro_rules! render_help {
    () => {
        examples!(
            "  # The Pod the controller would create for one Build of the files
  kubectl build render examples/seed/ --build kubeval-img

  # As JSON, with your own git fetcher image
  kubectl build render build.yaml -o json --git-init-image registry.example.com/git-init:v1"
        )
    };
}

macro_rules! completion_help {
    () => {
        examples!(
            "  # kubectl-build typed directly, in bash (add the line to ~/.bashrc)
  source <(kubectl-build completion bash)

  # In zsh, a file in a directory of $fpath; in fish, one of its completions
  kubectl-build completion zsh > \"${fpath[1]}/_kubectl-build\"
  kubectl-build completion fish > ~/.config/fish/completions/kubectl-build.fish

  # kubectl build <TAB> (kubectl 1.26+): put kubectl_complete-build on PATH
  cargo install --path build-controller --bin kubectl_complete-build"
        )
    };
}
