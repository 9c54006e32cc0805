//! Config problems as a person reads them: `file:line:column: key.path: what to do`.

use std::fmt;

use super::{locate, yaml};

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Key path, e.g. `modules[2].config.evil_users[1]`.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

impl ConfigProblem {
    /// A problem at a known position.
    pub fn at(path: &str, (line, column): (usize, usize), message: &str) -> Self {
        Self { path: path.to_owned(), line: Some(line), column: Some(column), message: message.to_owned() }
    }

    /// A problem whose position is found from its key path in the document; a key that
    /// is missing is placed at its nearest ancestor that is there.
    pub fn located(document: &str, path: &str, message: &str) -> Self {
        let mut position = locate::find(document, path);
        let mut ancestor = path;
        while position.is_none() {
            let Some(cut) = ancestor.rfind(['.', '[']) else { break };
            ancestor = &ancestor[..cut];
            position = locate::find(document, ancestor);
        }
        Self {
            path: path.to_owned(),
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            message: message.to_owned(),
        }
    }

    /// A problem with no position.
    pub fn unlocated(path: &str, message: &str) -> Self {
        Self { path: path.to_owned(), line: None, column: None, message: message.to_owned() }
    }

    /// A problem from a serde_yaml error at a tracked path. The position is the key's
    /// when it can be found in the document, else serde_yaml's.
    pub(crate) fn from_yaml(document: &str, path: &serde_path_to_error::Path, error: &serde_yaml::Error) -> Self {
        let path = yaml::render_path(path);
        let position = (!path.is_empty())
            .then(|| locate::find(document, &path))
            .flatten()
            .or_else(|| error.location().map(|l| (l.line(), l.column())))
            .or_else(|| Some(yaml::fallback_position(document, error)));
        Self {
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            path,
            message: yaml::message(error),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, "{line}:{column}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblems {
    /// The file, as the operator named it.
    pub file: String,
    /// The problems, in document order of their entries.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, problem) in self.problems.iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            if problem.line.is_some() {
                write!(f, "{}:{problem}", self.file)?;
            } else {
                write!(f, "{}: {problem}", self.file)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigProblems {}
