//! Typed YAML parsing with key paths and positions, for any config section.

use serde::de::DeserializeOwned;

use super::{ConfigProblem, ConfigProblems};

/// Parses a whole document as `T`; a problem carries the key path and line:column.
pub fn parse<T: DeserializeOwned>(document: &str) -> Result<T, ConfigProblem> {
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_yaml::Deserializer::from_str(document);
    T::deserialize(serde_path_to_error::Deserializer::new(deserializer, &mut track))
        .map_err(|error| ConfigProblem::from_yaml(document, &track.path(), &error))
}

/// [`parse`], with the file name for display.
pub fn from_str<T: DeserializeOwned>(document: &str, file: &str) -> Result<T, ConfigProblems> {
    parse(document).map_err(|problem| ConfigProblems { file: file.to_owned(), problems: vec![problem] })
}

/// Renders a tracked path as `modules[2].config.evil_users[1]`.
pub(crate) fn render_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// A serde_yaml message without its leading `key.path: ` and trailing
/// ` at line L column C` (both are shown in front of it).
pub(crate) fn message(error: &serde_yaml::Error) -> String {
    let mut text = error.to_string();
    if let Some(at) = text.rfind(" at line ") {
        if text[at..].contains(" column ") {
            text.truncate(at);
        }
    }
    if let Some((prefix, rest)) = text.split_once(": ") {
        let is_path = !prefix.is_empty()
            && prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']'));
        if is_path {
            return rest.to_owned();
        }
    }
    text
}
