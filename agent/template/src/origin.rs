//! Where a value came from, for ansible-core's internal `ansible._protomatter.origin`
//! filter (its own tests ask it). The agent's values carry no tags: a lookup that knows
//! its value's origin notes it here, on this thread, and the filter finds it by the
//! value's text. Only the `env` lookup notes one (`<environment variable 'NAME'>`).

use std::cell::RefCell;
use std::collections::VecDeque;

/// How many origins are kept (the latest win).
const KEEP: usize = 64;

thread_local! {
    static ORIGINS: RefCell<VecDeque<(String, String)>> = const { RefCell::new(VecDeque::new()) };
}

/// `value` came from `origin`.
pub fn note(value: &str, origin: String) {
    ORIGINS.with(|o| {
        let mut o = o.borrow_mut();
        o.retain(|(v, _)| v != value);
        if o.len() == KEEP {
            o.pop_front();
        }
        o.push_back((value.to_string(), origin));
    });
}

/// The origin noted for a value with this text, if any.
pub fn of(value: &str) -> Option<String> {
    ORIGINS.with(|o| {
        o.borrow()
            .iter()
            .rev()
            .find(|(v, _)| v == value)
            .map(|(_, origin)| origin.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_origin_of_a_text_wins() {
        note("x", "<environment variable 'A'>".into());
        note("x", "<environment variable 'B'>".into());
        assert_eq!(of("x").as_deref(), Some("<environment variable 'B'>"));
        assert_eq!(of("y"), None);
    }
}
