//! Push rules: the spec's server-default rule set (v1.10) merged with what each user
//! changed (`rules.rs`), and the evaluator that decides which events notify or highlight
//! (`evaluate.rs`), used for `/sync`'s `unread_notifications`. No push gateway is
//! contacted (SPEC: no push delivery).

pub(crate) mod evaluate;
pub(crate) mod rules;
