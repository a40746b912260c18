//! The filing protocol against a scripted Container Analysis: each create is answered, lost
//! after it was stored, lost before it was stored, or refused; a stored occurrence is listed
//! only after a lag (Google's eventual consistency). Time is tokio's paused clock, so the
//! waits of [`LIST_SETTLE`] cost nothing.

use super::*;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::time::Instant;

/// What one `occurrences.create` does.
#[derive(Clone, Copy)]
enum Create {
    /// Stored, and the answer arrives.
    Answered,
    /// Stored, and the answer is lost (a 5xx or a dropped connection after the write).
    LostAfterStoring,
    /// Not stored, and a 5xx answers.
    FailedBeforeStoring,
    /// Refused (a 400): nothing to look for.
    Refused,
}

struct Google {
    script: Mutex<VecDeque<Create>>,
    /// How long a stored occurrence takes to appear in a list.
    lag: Duration,
    delete_fails: bool,
    stored: Mutex<Vec<(String, Instant)>>,
    creates: Mutex<usize>,
    lists: Mutex<usize>,
}

impl Google {
    fn new(script: &[Create], lag: Duration) -> Google {
        Google {
            script: Mutex::new(script.iter().copied().collect()),
            lag,
            delete_fails: false,
            stored: Mutex::new(Vec::new()),
            creates: Mutex::new(0),
            lists: Mutex::new(0),
        }
    }

    fn remaining(&self) -> Vec<String> {
        let stored = self.stored.lock().unwrap();
        stored.iter().map(|(name, _)| name.clone()).collect()
    }

    fn creates(&self) -> usize {
        *self.creates.lock().unwrap()
    }
}

fn lost() -> Error {
    Error::Google {
        action: "create the attestation".into(),
        reason: "connection reset\n::error::injected".into(),
    }
}

impl Filing for Google {
    async fn file(&self) -> Result<String> {
        let step = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .expect("a create beyond the script");
        let n = {
            let mut creates = self.creates.lock().unwrap();
            *creates += 1;
            *creates
        };
        let name = format!("projects/p/occurrences/o{n}");
        let store = || {
            let visible = Instant::now() + self.lag;
            self.stored.lock().unwrap().push((name.clone(), visible));
        };
        match step {
            Create::Answered => {
                store();
                Ok(name)
            }
            Create::LostAfterStoring => {
                store();
                Err(lost())
            }
            Create::FailedBeforeStoring => Err(lost()),
            Create::Refused => Err(Error::Rejected {
                action: "create the attestation".into(),
                reason: "invalid signature".into(),
            }),
        }
    }

    async fn valid(&self) -> Result<Vec<String>> {
        *self.lists.lock().unwrap() += 1;
        let now = Instant::now();
        let stored = self.stored.lock().unwrap();
        Ok(stored
            .iter()
            .filter(|(_, visible)| *visible <= now)
            .map(|(name, _)| name.clone())
            .collect())
    }

    async fn delete(&self, name: &str) -> Result<()> {
        if self.delete_fails {
            return Err(lost());
        }
        self.stored.lock().unwrap().retain(|(n, _)| n != name);
        Ok(())
    }
}

const IMAGE: &str =
    "registry.example/app@sha256:0000000000000000000000000000000000000000000000000000000000000001";

fn filed(name: &str) -> Filed {
    Filed {
        name: name.into(),
        warning: None,
    }
}

#[tokio::test(start_paused = true)]
async fn an_answered_create_is_filed_once_without_a_list() {
    let google = Google::new(&[Create::Answered], Duration::from_secs(1));
    assert_eq!(
        create(&google, IMAGE).await.unwrap(),
        filed("projects/p/occurrences/o1")
    );
    assert_eq!(google.creates(), 1);
    assert_eq!(*google.lists.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_is_looked_for_and_found_without_filing_again() {
    let google = Google::new(&[Create::LostAfterStoring], Duration::from_secs(1));
    assert_eq!(
        create(&google, IMAGE).await.unwrap(),
        filed("projects/p/occurrences/o1")
    );
    assert_eq!(google.creates(), 1, "found by looking: no second create");
    assert_eq!(google.remaining(), ["projects/p/occurrences/o1"]);
}

#[tokio::test(start_paused = true)]
async fn a_lost_create_listed_just_inside_the_settle_time_is_found() {
    // Listed at 4.9 s of the 5 s look: the last look is at the deadline, not a pause before it.
    let google = Google::new(
        &[Create::LostAfterStoring],
        LIST_SETTLE - Duration::from_millis(100),
    );
    assert_eq!(
        create(&google, IMAGE).await.unwrap(),
        filed("projects/p/occurrences/o1")
    );
    assert_eq!(google.creates(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_lost_create_surfacing_after_the_refile_leaves_the_earlier_one_alone() {
    // Listed only after 7 s: the look after the lost answer (5 s) misses it, the refile is
    // answered, and the watch after it sees the earlier one and deletes its own.
    let google = Google::new(
        &[Create::LostAfterStoring, Create::Answered],
        LIST_SETTLE + Duration::from_secs(2),
    );
    assert_eq!(
        create(&google, IMAGE).await.unwrap(),
        filed("projects/p/occurrences/o1")
    );
    assert_eq!(google.creates(), 2);
    assert_eq!(
        google.remaining(),
        ["projects/p/occurrences/o1"],
        "exactly one remains"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cleanup_that_fails_is_a_one_line_warning_naming_both() {
    let mut google = Google::new(
        &[Create::LostAfterStoring, Create::Answered],
        LIST_SETTLE + Duration::from_secs(2),
    );
    google.delete_fails = true;
    let got = create(&google, IMAGE).await.unwrap();
    assert_eq!(got.name, "projects/p/occurrences/o1");
    let warning = got.warning.expect("a warning");
    assert!(warning.contains(IMAGE), "{warning}");
    assert!(
        warning.contains("removing the newer one, projects/p/occurrences/o2"),
        "{warning}"
    );
    assert!(!warning.contains('\n'), "one line: {warning:?}");
}

#[tokio::test(start_paused = true)]
async fn a_refile_after_a_create_that_stored_nothing_keeps_its_own() {
    let google = Google::new(
        &[Create::FailedBeforeStoring, Create::Answered],
        Duration::from_secs(1),
    );
    let started = Instant::now();
    assert_eq!(
        create(&google, IMAGE).await.unwrap(),
        filed("projects/p/occurrences/o2")
    );
    assert_eq!(google.remaining(), ["projects/p/occurrences/o2"]);
    // Looked for the lost one for LIST_SETTLE before refiling, and watched as long after.
    assert!(
        started.elapsed() >= LIST_SETTLE * 2,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn three_creates_that_store_nothing_fail_with_the_last_error() {
    let google = Google::new(&[Create::FailedBeforeStoring; 3], Duration::from_secs(1));
    let e = create(&google, IMAGE).await.unwrap_err();
    assert!(matches!(e, Error::Google { .. }), "{e}");
    assert_eq!(google.creates(), CREATE_ATTEMPTS);
    assert!(google.remaining().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_refused_create_fails_at_once_without_looking() {
    let google = Google::new(&[Create::Refused], Duration::from_secs(1));
    let e = create(&google, IMAGE).await.unwrap_err();
    assert!(e.to_string().contains("invalid signature"), "{e}");
    assert_eq!(*google.lists.lock().unwrap(), 0);
}
