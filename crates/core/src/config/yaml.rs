//! Typed YAML parsing with key paths and positions, for any config section.

use serde::de::DeserializeOwned;

use super::{ConfigProblem, ConfigProblems};

/// Parses a whole document as `T`; a problem carries the key path and line:column.
pub fn parse<T: DeserializeOwned>(document: &str) -> Result<T, ConfigProblem> {
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_yaml::Deserializer::from_str(document);
    T::deserialize(serde_path_to_error::Deserializer::new(deserializer, &mut track))
        .map_err(|error| ConfigProblem::from_yaml(&track.path(), &error))
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

/// A serde_yaml message without its trailing ` at line L column C` (shown in front).
pub(crate) fn message(error: &serde_yaml::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if text[at..].contains(" column ") => text[..at].to_owned(),
        _ => text,
    }
}
