//! A results file (RESULTS.md) as a preamble followed by one section per sweep, each
//! opened by the heading [`heading`] writes. `report --results FILE --update` regenerates
//! the sections of the sweeps it is given and keeps every other section as the file
//! already has it, so one sweep can be re-rendered without the run directories of all
//! the others on this machine.

/// The heading line that opens a sweep's section.
pub fn heading(name: &str, profile: &str) -> String {
    format!("## {name} — {profile} profile")
}

/// Whether `line` opens a sweep's section (as opposed to a preamble heading such as
/// "## Reading the quick profile", which has no " — ").
fn is_heading(line: &str) -> bool {
    line.starts_with("## ") && line.contains(" — ") && line.ends_with(" profile")
}

/// A results file split at its sweep headings.
#[derive(Debug, PartialEq, Eq)]
pub struct Sections {
    /// Everything before the first sweep heading.
    pub preamble: String,
    /// (heading line, the whole section including the heading), in file order.
    pub sections: Vec<(String, String)>,
}

impl Sections {
    /// A file with this preamble and no section yet.
    pub fn empty(preamble: &str) -> Sections {
        Sections { preamble: preamble.to_string(), sections: Vec::new() }
    }

    pub fn parse(text: &str) -> Sections {
        let mut preamble = String::new();
        let mut sections: Vec<(String, String)> = Vec::new();
        for line in text.split_inclusive('\n') {
            let bare = line.trim_end_matches(['\n', '\r']);
            if is_heading(bare) {
                sections.push((bare.to_string(), String::new()));
            }
            match sections.last_mut() {
                Some((_, body)) => body.push_str(line),
                None => preamble.push_str(line),
            }
        }
        Sections { preamble, sections }
    }

    /// `self` with each section of `fresh` in place of the section with its heading, and
    /// the sections `self` does not have appended in `fresh`'s order.
    pub fn updated_with(mut self, fresh: Vec<(String, String)>) -> Sections {
        for (head, body) in fresh {
            match self.sections.iter_mut().find(|(h, _)| *h == head) {
                Some(slot) => slot.1 = body,
                None => self.sections.push((head, body)),
            }
        }
        self
    }

    pub fn to_text(&self) -> String {
        let mut text = self.preamble.clone();
        for (_, body) in &self.sections {
            text.push_str(body);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# Results\n\n## Reading the quick profile\n\nintro\n\n## fig1 — paper profile\n\nold fig1\n\n## fig2 — quick profile\n\nold fig2\n";

    #[test]
    fn preamble_headings_without_a_dash_stay_in_the_preamble() {
        let s = Sections::parse(FILE);
        assert_eq!(s.preamble, "# Results\n\n## Reading the quick profile\n\nintro\n\n");
        let heads: Vec<&str> = s.sections.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(heads, [heading("fig1", "paper"), heading("fig2", "quick")]);
        assert_eq!(s.to_text(), FILE, "parsing and writing back changes nothing");
    }

    #[test]
    fn an_update_replaces_sections_in_place_keeps_the_others_and_appends_new_ones() {
        let fresh = vec![
            (heading("table2", "paper"), "## table2 — paper profile\n\nnew table2\n".to_string()),
            (heading("fig1", "paper"), "## fig1 — paper profile\n\nnew fig1\n\n".to_string()),
        ];
        let text = Sections::parse(FILE).updated_with(fresh).to_text();
        assert_eq!(
            text,
            "# Results\n\n## Reading the quick profile\n\nintro\n\n## fig1 — paper profile\n\nnew fig1\n\n## fig2 — quick profile\n\nold fig2\n## table2 — paper profile\n\nnew table2\n"
        );
    }
}
