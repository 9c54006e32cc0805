//! With `debug` on for `mxmod::callback`, every poll of a callback runs inside a
//! `module_callback` span naming the module instance and the callback, so what the
//! callback logs carries them; with it off, no span is made.

use std::{
    future::Future,
    pin::pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
};

use mxmod::{
    module, spam_checker,
    testing::Harness,
    types::{JsonObject, UserId},
    Module, ModuleApi, ModuleError, SpamCheck,
};
use tracing::{
    field::{Field, Visit},
    span::{Attributes, Id, Record},
    Event, Metadata, Subscriber,
};

struct Logger;

impl Module for Logger {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Logger)
    }
}

#[module(name = "span_logger")]
impl Logger {
    #[spam_checker]
    async fn user_may_create_room(&self, _user: &UserId, _config: &JsonObject) -> SpamCheck {
        tracing::info!("checking");
        SpamCheck::NOT_SPAM
    }
}

/// Records each span's name and fields, and for each event the span it happened in.
#[derive(Clone, Default)]
struct Recorder {
    /// Spans by id (id − 1 is the index): their name and `field=value` pairs.
    spans: Arc<Mutex<Vec<String>>>,
    /// The spans entered now.
    entered: Arc<Mutex<Vec<u64>>>,
    /// Each event's message with the span it happened in (or "none").
    events: Arc<Mutex<Vec<String>>>,
    /// Whether `debug` is on for `mxmod::callback`.
    debug: bool,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.debug || *metadata.level() <= tracing::Level::INFO
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(span.metadata().name().to_owned());
        span.record(&mut fields);
        let mut spans = self.spans.lock().unwrap();
        spans.push(fields.0);
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let inside = match self.entered.lock().unwrap().last() {
            Some(&id) => self.spans.lock().unwrap()[id as usize - 1].clone(),
            None => "none".to_owned(),
        };
        self.events.lock().unwrap().push(format!("{} in {inside}", fields.0.trim()));
    }

    fn enter(&self, span: &Id) {
        self.entered.lock().unwrap().push(span.into_u64());
    }

    fn exit(&self, _span: &Id) {
        self.entered.lock().unwrap().pop();
    }
}

/// Dispatches `user_may_create_room` once under `recorder`; the events it saw.
fn dispatch_under(recorder: Recorder) -> Vec<String> {
    let harness = Harness::from_yaml("modules:\n  - module: span_logger\n").unwrap();
    let user = UserId::parse("@a:example.com").unwrap();
    let config = JsonObject::new();
    tracing::subscriber::with_default(recorder.clone(), || {
        let mut dispatch = pin!(harness.callbacks().spam_checker.user_may_create_room(&user, &config));
        let answer = dispatch.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(answer, Poll::Ready(Ok(()))));
    });
    let events = recorder.events.lock().unwrap().clone();
    events
}

#[test]
fn with_debug_on_a_callback_logs_inside_a_span_naming_its_module_and_callback() {
    let events = dispatch_under(Recorder { debug: true, ..Recorder::default() });
    assert_eq!(events, [r#"message=checking in module_callback module="span_logger" callback="user_may_create_room""#]);
}

#[test]
fn with_debug_off_no_span_is_made() {
    let recorder = Recorder::default();
    let events = dispatch_under(recorder.clone());
    assert_eq!(events, ["message=checking in none"]);
    assert!(recorder.spans.lock().unwrap().is_empty());
}
