//! Typed YAML parsing with key paths and positions, for any config section.

use serde::de::DeserializeOwned;

use super::{ConfigProblem, ConfigProblems};

/// Largest config document accepted, in bytes; a larger file is refused before it is read.
pub const MAX_DOCUMENT_SIZE: usize = 16 * 1024 * 1024;

/// Deepest `[`/`{` nesting accepted (serde_yaml refuses deeper documents anyway, but
/// only after its parser has spent time quadratic in the depth on them).
const MAX_FLOW_DEPTH: usize = 128;

/// Refuses, before any parsing, a document over [`MAX_DOCUMENT_SIZE`] or nested deeper
/// than 128 levels of `[`/`{` (a file of `[[[[...`), with the position where it goes wrong.
/// One pass over the bytes; quoted strings and comments are skipped.
pub fn precheck(document: &str) -> Result<(), ConfigProblem> {
    if document.len() > MAX_DOCUMENT_SIZE {
        return Err(ConfigProblem::at(
            "",
            (1, 1),
            &format!("the config is {} bytes; at most {MAX_DOCUMENT_SIZE} (16 MiB) are read", document.len()),
        ));
    }
    let (mut line, mut column, mut depth) = (1, 0, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut previous = '\n';
    for c in document.chars() {
        column += 1;
        match (quote, c) {
            (_, '\n') => {
                line += 1;
                column = 0;
                comment = false;
                // A single-quoted or double-quoted scalar may span lines; keep `quote`.
            }
            _ if comment => {}
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '#') if previous.is_whitespace() => comment = true,
            (None, '\'' | '"') if matches!(previous, ' ' | '\t' | '\n' | '[' | '{' | ',' | ':' | '-') => {
                quote = Some(c)
            }
            (None, '[' | '{') => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(ConfigProblem::at(
                        "",
                        (line, column),
                        &format!("nested more than {MAX_FLOW_DEPTH} levels deep"),
                    ));
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
    }
    Ok(())
}

/// A position for a serde_yaml error that has none: the second document's marker, the
/// first alias for an alias bomb, else the document's start.
pub(crate) fn fallback_position(document: &str, error: &serde_yaml::Error) -> (usize, usize) {
    let text = error.to_string();
    if text.contains("more than one document") {
        let mut seen_content = false;
        for (number, line) in document.lines().enumerate() {
            if (line.starts_with("---") || line.starts_with("...")) && seen_content {
                return (number + 1, 1);
            }
            let trimmed = line.trim_start();
            if !trimmed.is_empty() && !trimmed.starts_with('#') && !line.starts_with("---") {
                seen_content = true;
            }
        }
    }
    if text.contains("repetition limit") || text.contains("recursion limit") {
        for (number, line) in document.lines().enumerate() {
            let mut previous = ' ';
            for (at, c) in line.char_indices() {
                if c == '*' && matches!(previous, ' ' | '[' | ',' | '{') {
                    return (number + 1, at + 1);
                }
                previous = c;
            }
        }
    }
    (1, 1)
}

/// Parses a whole document as `T`; a problem carries the key path and line:column.
pub fn parse<T: DeserializeOwned>(document: &str) -> Result<T, ConfigProblem> {
    precheck(document)?;
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
