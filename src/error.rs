//! The library's error type.
//!
//! Every error caused by user input names the file, the field (or line) and what is wrong, so the
//! command line can print it as is and exit with code 2. Errors that indicate a bug in synops
//! itself are not represented here: they are assertions.

use std::path::PathBuf;

/// Result alias used throughout synops.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong when reading, checking, building or writing a network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    /// (The operating system's error is part of the message, not a chained source, so that a
    /// message printed with its causes says it once.)
    #[error("{}: {action}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("cannot read", "cannot write").
        action: &'static str,
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// A network file is not valid TOML, or does not match the format.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The network file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong, with the nearest valid field name where one applies.
        message: String,
    },
    /// A value in a network file is out of range or inconsistent.
    #[error("{}: {field}: {message}", path.display())]
    Invalid {
        /// The network file.
        path: PathBuf,
        /// Where in the file, e.g. `population "exc".tau_m_ms`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A line of a CSV file referenced by a network is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A data set, model or weights file is malformed or does not fit.
    #[error("{}: {message}", path.display())]
    Data {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the tensor, operator or field.
        message: String,
    },
    /// A neuron's state ran away during a run; nothing was written.
    #[error("{}: {context}{runaway}", path.display())]
    Runaway {
        /// The network file.
        path: PathBuf,
        /// Where in the work, e.g. `sample 12: ` (empty for a plain run).
        context: String,
        /// The neuron, the step and the state.
        runaway: Box<crate::sim::Runaway>,
    },
    /// The network would not fit in memory; refused before allocating.
    #[error(
        "{}: network too large: about {needed_mb:.0} MB needed ({synapses} synapses, {neurons} neurons), {available_mb:.0} MB available",
        path.display()
    )]
    TooLarge {
        /// The network file.
        path: PathBuf,
        /// Estimated memory for the compiled network and its state.
        needed_mb: f64,
        /// Memory the machine reports as available.
        available_mb: f64,
        /// Expected number of synapses.
        synapses: u64,
        /// Number of neurons.
        neurons: u64,
    },
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            path: path.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action,
            cause: source,
        }
    }
}

/// A field or line of a user's file as a message quotes it: its first `max_chars` characters,
/// then `...` if it is longer.
pub fn quoted(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// A number as a message shows it: at most 4 significant digits, in exponent form (`1e308`,
/// `-8.868e11`) outside 0.001 to 1,000,000, so that no message prints hundreds of digits.
pub fn short_number(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x}");
    }
    if (1e-3..1e6).contains(&x.abs()) {
        let digits = (3 - x.abs().log10().floor() as i32).max(0) as usize;
        let text = format!("{x:.digits$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    } else {
        let text = format!("{x:.3e}");
        let (mantissa, exponent) = text.split_once('e').expect("exponent form");
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        format!("{mantissa}e{exponent}")
    }
}

#[cfg(test)]
mod tests {
    use super::short_number;

    #[test]
    fn numbers_are_short() {
        assert_eq!(short_number(1e308), "1e308");
        assert_eq!(short_number(-8.868130342296713e11), "-8.868e11");
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(0.1), "0.1");
        assert_eq!(short_number(12.34567), "12.35");
        assert_eq!(short_number(-65.0), "-65");
        assert_eq!(short_number(123456.0), "123456");
        assert_eq!(short_number(2.5e-7), "2.5e-7");
        assert_eq!(short_number(f64::NAN), "NaN");
        assert_eq!(short_number(f64::NEG_INFINITY), "-inf");
    }
}
