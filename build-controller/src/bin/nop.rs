//! The no-op container: the one regular container of a build pod.
//!
//! Every build step runs as an init container; a pod needs at least one regular container, and
//! this one exits at once, successfully, once the steps have all run.

fn main() {
    println!("Build successful");
}
