//! How the ranks end a step together. A step every rank takes (setting up, a round's
//! defense calls) ends with [`Ranks::agree`]: when any rank failed, every rank gets the
//! error of the lowest failing rank — with its class and its chain of causes, as that rank
//! saw it — so the job ends on every rank with one message instead of leaving the others
//! waiting in their next collective. An error that did not go through `agree` can only
//! be one rank's, and `main` ends the job with `MPI_Abort` for it.

use serde::{Deserialize, Serialize};

use super::Ranks;

/// An error every rank of the job returns alike; rank 0 prints it, the others only exit.
#[derive(Debug)]
pub struct Agreed(pub anyhow::Error);

impl std::fmt::Display for Agreed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Agreed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.chain().nth(1)
    }
}

/// The innermost cause of an error raised on another rank, with the class (`error[CLASS]`)
/// it had there.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RemoteError {
    pub class: Option<String>,
    pub message: String,
}

/// An error as it travels between ranks.
#[derive(Serialize, Deserialize)]
struct Travelling {
    class: Option<String>,
    /// The error's chain, outermost first.
    chain: Vec<String>,
}

impl Travelling {
    fn of(err: &anyhow::Error) -> Travelling {
        Travelling { class: crate::sandbox::error_class(err), chain: err.chain().map(|e| e.to_string()).collect() }
    }

    fn into_error(self) -> anyhow::Error {
        let mut chain = self.chain.into_iter().rev();
        let innermost = chain.next().unwrap_or_default();
        let mut err = anyhow::Error::new(RemoteError { class: self.class, message: innermost });
        for outer in chain {
            err = err.context(outer);
        }
        err
    }
}

impl Ranks {
    /// `outcome` of a step every rank takes, agreed: `Ok` on every rank when every rank
    /// succeeded, else on every rank the error of the lowest rank that failed (this rank's
    /// own error where that is this rank), wrapped in [`Agreed`].
    pub fn agree<T>(&self, outcome: anyhow::Result<T>) -> anyhow::Result<T> {
        if self.size() == 1 {
            return outcome.map_err(|e| anyhow::Error::new(Agreed(e)));
        }
        let mine = match &outcome {
            Ok(_) => Vec::new(),
            Err(e) => serde_json::to_vec(&Travelling::of(e)).expect("an error's text serializes"),
        };
        let all = self.all_gather_varcount(&mine);
        let Some((first, bytes)) = all.iter().enumerate().find(|(_, b)| !b.is_empty()) else { return outcome };
        match outcome {
            Err(e) if first == self.rank() => Err(anyhow::Error::new(Agreed(e))),
            _ => {
                let remote = serde_json::from_slice::<Travelling>(bytes)
                    .map(Travelling::into_error)
                    .unwrap_or_else(|e| anyhow::anyhow!("rank {first} failed, and its error could not be read: {e}"));
                Err(anyhow::Error::new(Agreed(remote)))
            }
        }
    }
}

/// Whether `err` is one every rank returns alike (else it is this rank's alone).
pub fn is_agreed(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.is::<Agreed>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_crosses_ranks_with_its_chain_and_class() {
        let original = anyhow::Error::new(RemoteError { class: Some("trap".into()), message: "inner".into() }).context("outer");
        let travelled = Travelling::of(&original).into_error();
        assert_eq!(format!("{travelled:#}"), "outer: inner");
        assert_eq!(crate::sandbox::error_class(&travelled).as_deref(), Some("trap"));
    }

    #[test]
    fn an_agreed_error_prints_and_classifies_as_the_original() {
        let original = anyhow::anyhow!("inner").context("outer");
        let agreed = Ranks::single().agree::<()>(Err(original)).unwrap_err();
        assert_eq!(format!("{agreed:#}"), "outer: inner");
        assert!(is_agreed(&agreed));
        assert_eq!(agreed.chain().count(), 2);
    }
}
