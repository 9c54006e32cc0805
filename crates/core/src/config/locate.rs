//! Finds where a key path sits in a block-style YAML document, for problems serde cannot
//! place (unknown keys, a module's own validation). Flow-style sections are not searched.

/// One step of a key path.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        for index in rest.split('[') {
            if let Ok(index) = index.trim_end_matches(']').parse() {
                out.push(Step::Index(index));
            }
        }
    }
    out
}

/// A line of the region being searched: its 1-based number, the column its content
/// starts at (0-based), and the content.
#[derive(Clone, Copy)]
struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
}

/// The (line, column), both 1-based, of the last step of `path`.
pub(crate) fn find(document: &str, path: &str) -> Option<(usize, usize)> {
    let mut region: Vec<Line<'_>> = document
        .lines()
        .enumerate()
        .filter_map(|(n, raw)| {
            let text = raw.trim_start();
            (!text.is_empty() && !text.starts_with('#')).then(|| Line {
                number: n + 1,
                indent: raw.len() - text.len(),
                text,
            })
        })
        .collect();
    let mut found = None;
    for step in steps(path) {
        let block_indent = region.first()?.indent;
        let siblings = |line: &Line<'_>| line.indent == block_indent;
        let start = match step {
            Step::Key(key) => region.iter().position(|line| siblings(line) && is_key(line.text, key))?,
            Step::Index(index) => {
                region.iter().enumerate().filter(|(_, line)| siblings(line) && line.text.starts_with('-')).nth(index)?.0
            }
        };
        let head = region[start];
        found = Some((head.number, head.indent + 1));
        let mut inner: Vec<Line<'_>> =
            region[start + 1..].iter().copied().take_while(|l| l.indent > head.indent).collect();
        if matches!(step, Step::Index(_)) {
            // A list item starts with '-', so byte 1 is a char boundary.
            let trimmed = head.text[1..].trim_start();
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                let indent = head.indent + (head.text.len() - trimmed.len());
                inner.insert(0, Line { number: head.number, indent, text: trimmed });
            }
        }
        region = inner;
    }
    found
}

fn is_key(text: &str, key: &str) -> bool {
    let unquoted = text.trim_start_matches(['"', '\'']);
    unquoted.strip_prefix(key).is_some_and(|rest| rest.trim_start_matches(['"', '\'']).starts_with(':'))
}

#[cfg(test)]
mod tests {
    use super::find;

    const DOC: &str = "server_name: example.com
modules:
  - module: demo
  - module: list_spam_checker
    config:
      # who is evil
      evil_users:
        - \"@a:example.com\"
        - \"@b:example.com\"
      colour: blue
";

    #[test]
    fn finds_keys_list_items_and_nested_keys() {
        assert_eq!(find(DOC, "modules"), Some((2, 1)));
        assert_eq!(find(DOC, "modules[1]"), Some((4, 3)));
        assert_eq!(find(DOC, "modules[1].module"), Some((4, 5)));
        assert_eq!(find(DOC, "modules[1].config.colour"), Some((10, 7)));
        assert_eq!(find(DOC, "modules[1].config.evil_users[1]"), Some((9, 9)));
        assert_eq!(find(DOC, "modules[0].config"), None);
    }
}
