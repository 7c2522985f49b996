//! Reading a network file: TOML text → [`NetworkSpec`], with every syntax or format error
//! located by line and column and worded in the format's terms. The parameters of clocked
//! models are set aside here and checked against each model's own struct (see
//! [`crate::model`]), so that their errors are located too.

use super::spec::{ModelName, NetworkSpec};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue, Deserializer};

/// Read and parse a network file, without checking values.
pub fn read_spec(path: &Path) -> Result<NetworkSpec> {
    let text = crate::files::read_text(path, crate::files::InputKind::Text)?;
    parse_spec(&text, path)
}

/// Parse network file text; `path` is only used in error messages.
pub fn parse_spec(text: &str, path: &Path) -> Result<NetworkSpec> {
    let located = |e: toml::de::Error| {
        let (line, column) = match e.span() {
            Some(span) => line_column(text, span.start),
            None => (1, 1),
        };
        Error::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: with_suggestion(e.message()),
        }
    };
    let mut doc = DeTable::parse(text).map_err(located)?;
    let own = set_aside_model_params(&mut doc);
    let mut spec = NetworkSpec::deserialize(Deserializer::from(doc)).map_err(located)?;
    for (k, entry, table) in own {
        (entry.check)(Deserializer::from(table.clone())).map_err(located)?;
        let params = toml::Table::deserialize(Deserializer::from(table)).map_err(located)?;
        if let Some(p) = spec.populations.get_mut(k) {
            p.model_params = params;
        }
    }
    Ok(spec)
}

/// The fields of a `[[population]]` table that are not the model's parameters.
const POPULATION_FIELDS: [&str; 5] = ["name", "size", "model", "v_init_mv", "initial"];

/// Take the parameters of every population of a clocked model out of its table: `(index of the
/// population, its model, its parameter table)`.
fn set_aside_model_params<'i>(
    doc: &mut Spanned<DeTable<'i>>,
) -> Vec<(usize, &'static crate::model::Entry, Spanned<DeTable<'i>>)> {
    let mut own = Vec::new();
    let Some(populations) = doc.get_mut().get_mut("population") else {
        return own;
    };
    let DeValue::Array(populations) = populations.get_mut() else {
        return own;
    };
    for (k, population) in populations.iter_mut().enumerate() {
        let span = population.span();
        let DeValue::Table(table) = population.get_mut() else {
            continue;
        };
        let model = match table.get("model").map(|m| m.get_ref()) {
            Some(DeValue::String(name)) => ModelName::from_name(name).ok_or(()),
            _ => continue,
        };
        let entry = match model {
            Ok(ModelName::Clocked(name)) => crate::model::clocked(name),
            // An unknown model: its fields are set aside too, so that the error is the
            // model's name, not a field of the model meant.
            Err(()) => None,
            Ok(_) => continue,
        };
        let keys: Vec<_> = table
            .keys()
            .filter(|key| !POPULATION_FIELDS.contains(&key.get_ref().as_ref()))
            .cloned()
            .collect();
        let mut params = DeTable::new();
        for key in keys {
            if let Some((key, value)) = table.remove_entry(&key) {
                params.insert(key, value);
            }
        }
        if let Some(entry) = entry {
            own.push((k, entry, Spanned::new(span, params)));
        }
    }
    own
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Levenshtein distance, for "did you mean" hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `name`, if reasonably close.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, c)| d <= (c.len().max(name.len()) / 2).max(2))
        .min()
        .map(|(_, c)| c)
}

/// Append "did you mean" to serde's unknown-field and unknown-variant messages.
fn with_suggestion(message: &str) -> String {
    let message = in_user_words(message.trim_end());
    let ticked: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let known = message.starts_with("unknown field") || message.starts_with("unknown variant");
    if known
        && ticked.len() > 1
        && let Some(best) = nearest(ticked[0], ticked[1..].iter().copied())
    {
        return format!("{message}; did you mean `{best}`?");
    }
    message
}

/// What the format's types are called in messages, in place of their Rust names.
const TYPE_WORDS: [(&str, &str); 13] = [
    (
        "internally tagged enum ConnectivitySpec",
        "a connectivity table such as { rule = \"fixed_probability\", p = 0.1 }",
    ),
    (
        "internally tagged enum InputSpec",
        "an input table with kind = \"poisson\", \"current\" or \"noise\"",
    ),
    ("struct NetworkSpec", "a network file"),
    ("struct SimulationSpec", "a [simulation] table"),
    ("struct PopulationSpec", "a [[population]] table"),
    ("struct ProjectionSpec", "a [[projection]] table"),
    ("struct RecordSpec", "a [record] table"),
    (
        "struct TensorRef",
        "a table { file = \"...\", tensor = \"...\" }",
    ),
    ("struct Selection", "a table { population = \"...\" }"),
    ("u32", "a whole number (0 to 4294967295)"),
    ("u64", "a whole number (at least 0)"),
    ("usize", "a whole number (at least 0)"),
    ("f64", "a number"),
];

/// A message of the TOML reader with the Rust names of types replaced by what they are in the
/// network format.
fn in_user_words(message: &str) -> String {
    let mut message = message.to_string();
    for (rust, words) in TYPE_WORDS {
        let expected = format!("expected {rust}");
        if let Some(at) = message.find(&expected) {
            let end = at + expected.len();
            // Whole names only (`u32` but not `u32x`).
            if !message[end..].starts_with(|c: char| c.is_alphanumeric()) {
                message.replace_range(at..end, &format!("expected {words}"));
            }
        }
    }
    message
}
