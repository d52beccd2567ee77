//! How a script's results travel from the process running it to the one
//! reporting them: one line per event on the child's stdout, each starting
//! with `@@` (anything else on stdout is ignored).
//!
//! ```text
//! @@TOTAL <directives>
//! @@R <line> <PASS|FAIL|SKIP> <kind>\t<message>
//! @@END
//! ```

use std::io::Write;

/// What became of one directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Pass,
    Fail(String),
    /// Not applicable, with the reason.
    Skip(String),
}

/// Writes events, flushing each so a crash loses nothing already done.
pub(super) struct Reporter<W: Write> {
    out: W,
}

impl<W: Write> Reporter<W> {
    pub(super) fn new(out: W) -> Self {
        Reporter { out }
    }

    pub(super) fn total(&mut self, directives: usize) -> std::io::Result<()> {
        writeln!(self.out, "@@TOTAL {directives}")?;
        self.out.flush()
    }

    pub(super) fn result(
        &mut self,
        line: usize,
        kind: &str,
        outcome: &Outcome,
    ) -> std::io::Result<()> {
        let (status, message) = match outcome {
            Outcome::Pass => ("PASS", ""),
            Outcome::Fail(m) => ("FAIL", m.as_str()),
            Outcome::Skip(m) => ("SKIP", m.as_str()),
        };
        let message: String = message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        writeln!(self.out, "@@R {line} {status} {kind}\t{message}")?;
        self.out.flush()
    }

    pub(super) fn end(&mut self) -> std::io::Result<()> {
        writeln!(self.out, "@@END")?;
        self.out.flush()
    }

    /// A script that is a single failure (it could not be read or parsed).
    pub(super) fn single(
        &mut self,
        line: usize,
        kind: &str,
        outcome: Outcome,
    ) -> std::io::Result<()> {
        self.total(1)?;
        self.result(line, kind, &outcome)?;
        self.end()
    }
}

/// One event, as read back by the reporting process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Event {
    Total(usize),
    Result {
        line: usize,
        kind: String,
        outcome: Outcome,
    },
    End,
}

pub(super) fn parse_line(line: &str) -> Option<Event> {
    let rest = line.strip_prefix("@@")?;
    if rest == "END" {
        return Some(Event::End);
    }
    if let Some(n) = rest.strip_prefix("TOTAL ") {
        return n.trim().parse().ok().map(Event::Total);
    }
    let rest = rest.strip_prefix("R ")?;
    let (head, message) = rest.split_once('\t')?;
    let mut fields = head.splitn(3, ' ');
    let line = fields.next()?.parse().ok()?;
    let status = fields.next()?;
    let kind = fields.next()?.to_string();
    let outcome = match status {
        "PASS" => Outcome::Pass,
        "FAIL" => Outcome::Fail(message.to_string()),
        "SKIP" => Outcome::Skip(message.to_string()),
        _ => return None,
    };
    Some(Event::Result {
        line,
        kind,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let mut out = Vec::new();
        let mut r = Reporter::new(&mut out);
        r.total(3).unwrap();
        r.result(12, "assert_return", &Outcome::Pass).unwrap();
        r.result(13, "assert_trap(module)", &Outcome::Fail("a\nb\tc".into()))
            .unwrap();
        r.result(14, "thread", &Outcome::Skip("no threads".into()))
            .unwrap();
        r.end().unwrap();
        let text = String::from_utf8(out).unwrap();
        let events: Vec<Event> = text
            .lines()
            .chain(["noise from wasm", "@@R garbage"])
            .filter_map(parse_line)
            .collect();
        let result = |line, kind: &str, outcome| Event::Result {
            line,
            kind: kind.into(),
            outcome,
        };
        assert_eq!(
            events,
            [
                Event::Total(3),
                result(12, "assert_return", Outcome::Pass),
                result(13, "assert_trap(module)", Outcome::Fail("a b c".into())),
                result(14, "thread", Outcome::Skip("no threads".into())),
                Event::End,
            ]
        );
    }
}
