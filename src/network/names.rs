//! The names a network file gives: the network's own name (a folder of `results/`), population
//! and projection names (fields of `spikes.csv`, `traces.csv`, `counts.csv` and the reports).
//! Restricted to characters that are safe as a path component and as a CSV field.

/// The longest name.
pub const MAX_NAME_LEN: usize = 64;

/// The rule, as messages and the README state it.
pub const NAME_RULE: &str = "1 to 64 characters among letters, digits, `_`, `-` and `.`, not starting with `.` or `-` (a projection's name may also hold `>`, as in `exc->inh`)";

/// Whether `c` may appear in a name; `>` only in projection names.
fn allowed(c: char, projection: bool) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || (projection && c == '>')
}

/// Check a name against [`NAME_RULE`]; the error says what is wrong.
pub fn check_name(name: &str, projection: bool) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("a name cannot be empty: {NAME_RULE}"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(format!(
            "the name has {} characters: {NAME_RULE}",
            name.chars().count()
        ));
    }
    if let Some(c) = name.chars().find(|&c| !allowed(c, projection)) {
        return Err(format!("the character {c:?} is not allowed: {NAME_RULE}"));
    }
    if name.starts_with(['.', '-']) {
        return Err(format!(
            "the name starts with `{}`: {NAME_RULE}",
            &name[..1]
        ));
    }
    Ok(())
}

/// `text` turned into a valid name: characters outside the rule become `_`, and a leading `.`
/// or `-` is dropped (for names made from file names, as `synops convert` does).
pub fn to_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| if allowed(c, false) { c } else { '_' })
        .take(MAX_NAME_LEN)
        .collect();
    let name = name.trim_start_matches(['.', '-']);
    if name.is_empty() {
        "network".to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_a_folder_or_break_a_csv_are_refused() {
        for bad in [
            "", "..", "../x", "a/b", "a,b", "a\nb", "a\"b", ".hidden", "-x", "é",
        ] {
            assert!(check_name(bad, false).is_err(), "{bad:?} accepted");
        }
        assert!(check_name(&"a".repeat(65), false).is_err());
        for good in ["exc", "layer_1", "v1.2", "E-I", &"a".repeat(64)] {
            assert!(check_name(good, false).is_ok(), "{good:?} refused");
        }
        assert!(check_name("exc->inh", true).is_ok());
        assert!(check_name("exc->inh", false).is_err());
    }

    #[test]
    fn file_names_become_valid_names() {
        assert_eq!(to_name("my model (v2)"), "my_model__v2_");
        assert_eq!(to_name("../x"), "_x");
        assert_eq!(to_name(".."), "network");
        for text in ["a,b", "x\ny", "", "---"] {
            assert!(check_name(&to_name(text), false).is_ok());
        }
    }
}
