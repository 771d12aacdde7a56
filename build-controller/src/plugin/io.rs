//! Where the plugin writes, and how: colour, progress lines.

use std::io::{IsTerminal, Write};

/// How output looks. Decided once per command ([`Style::detect`]); tests build it directly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours: one per step for the `[step]` prefixes, red for failures.
    pub color: bool,
    /// One status line per step as it starts and finishes, on stderr.
    pub progress: bool,
}

impl Style {
    /// Colour when stdout is a terminal, `NO_COLOR` is unset (or empty) and `--no-color` was
    /// not given; progress lines when stderr is a terminal.
    pub fn detect(no_color: bool) -> Style {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && !no_color_env && std::io::stdout().is_terminal(),
            progress: std::io::stderr().is_terminal(),
        }
    }
}

/// The plugin's two output streams: what a command shows (logs, descriptions) on `out`, and
/// progress, waits and errors on `err`.
pub struct Io<'a> {
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// How output looks.
    pub style: Style,
}

impl std::fmt::Debug for Io<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io").field("style", &self.style).finish()
    }
}

/// The colours of the step prefixes, in step order (cycling): cyan, yellow, magenta, green,
/// blue, then their bright variants.
const PALETTE: [u8; 8] = [36, 33, 35, 32, 34, 96, 93, 95];
const RED: u8 = 31;

impl Io<'_> {
    /// `text` in the colour of step `index` when colour is on.
    pub(crate) fn step_color(&self, index: usize, text: &str) -> String {
        self.paint(PALETTE[index % PALETTE.len()], text)
    }

    /// `text` in red when colour is on.
    pub(crate) fn red(&self, text: &str) -> String {
        self.paint(RED, text)
    }

    fn paint(&self, code: u8, text: &str) -> String {
        if self.style.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A progress line on stderr, when progress lines are on.
    pub(crate) fn progress(&mut self, line: &str) -> std::io::Result<()> {
        if self.style.progress {
            writeln!(self.err, "{line}")?;
        }
        Ok(())
    }
}
