//! Request ids a contract has answered, kept so a device that sends the same request again (it
//! lost the answer, the Wi-Fi dropped) gets the first answer back instead of a second effect.
//! The GM contract keeps a station's scan ids, the predictions contract a phone's vote ids and
//! staff's grant ids.
//!
//! The memory is bounded (`LIMIT` ids, the oldest forgotten first) and sits in both the live and
//! the committed state for the whole night, so its cost per id matters: the key is allocated
//! once and shared by the table and the order, the answer sits behind an `Arc` (an event that
//! carries one in an `Arc` hands both states the same copy), and once the memory is full its
//! table is sized for the churn of one id in and the oldest out, so it does not double in the
//! middle of a night.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Who sent the request (a device id, a user id) and the id they gave it.
type RequestKey = Arc<(String, String)>;

/// The last `LIMIT` answered requests, by who sent them and their id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    from = "KeptAnswers<V>",
    bound(serialize = "V: Serialize", deserialize = "V: Deserialize<'de>")
)]
pub struct RememberedIds<V, const LIMIT: usize> {
    answers: HashMap<RequestKey, Arc<V>>,
    /// Oldest first; the same keys as `answers`.
    order: VecDeque<RequestKey>,
}

/// The memory as a snapshot holds it (the same fields: a snapshot's bytes do not change).
#[derive(Deserialize)]
struct KeptAnswers<V> {
    answers: HashMap<RequestKey, Arc<V>>,
    order: VecDeque<RequestKey>,
}

impl<V, const LIMIT: usize> From<KeptAnswers<V>> for RememberedIds<V, LIMIT> {
    fn from(kept: KeptAnswers<V>) -> Self {
        let answers = kept.answers;
        // Decoding made each key twice; keep the table's and drop the order's copy.
        let order = kept
            .order
            .iter()
            .filter_map(|key| answers.get_key_value(&**key).map(|(key, _)| key.clone()))
            .collect();
        let mut memory = Self { answers, order };
        memory.size_for_churn();
        memory
    }
}

impl<V, const LIMIT: usize> Default for RememberedIds<V, LIMIT> {
    fn default() -> Self {
        Self {
            answers: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<V, const LIMIT: usize> RememberedIds<V, LIMIT> {
    /// The answer `who` got for `request`, if it is still remembered.
    pub fn get(&self, who: &str, request: &str) -> Option<&V> {
        self.answers
            .get(&(who.to_string(), request.to_string()))
            .map(|answer| &**answer)
    }

    /// Remembers `answer` for `who`'s `request`, forgetting the oldest past `LIMIT`. A request
    /// already remembered keeps its place and takes the new answer.
    pub fn remember(&mut self, who: String, request: String, answer: Arc<V>) {
        let key = Arc::new((who, request));
        if self.answers.insert(key.clone(), answer).is_none() {
            self.order.push_back(key);
            // Sized the moment it first fills, before any id was forgotten: later, forgotten
            // ids lower `capacity()` until the table rehashes in place, and reserving then
            // would double the table instead.
            if self.order.len() == LIMIT {
                self.size_for_churn();
            }
        }
        while self.order.len() > LIMIT {
            if let Some(oldest) = self.order.pop_front() {
                self.answers.remove(&oldest);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Room for twice the limit: forgotten ids leave removed slots that count against the
    /// table's capacity, and a table sized for the limit alone fills with them and doubles; one
    /// with half its room free rehashes in place instead.
    fn size_for_churn(&mut self) {
        if self.answers.len() >= LIMIT && self.answers.capacity() < 2 * LIMIT {
            self.answers.reserve(2 * LIMIT - self.answers.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: usize = 1_000;

    #[test]
    fn a_resend_gets_the_first_answer_and_the_oldest_is_forgotten_past_the_limit() {
        let mut memory = RememberedIds::<u32, 3>::default();
        for (n, id) in ["a", "b", "c"].into_iter().enumerate() {
            memory.remember("GM_1".into(), id.into(), Arc::new(n as u32));
        }
        assert_eq!(memory.get("GM_1", "a"), Some(&0));
        assert_eq!(memory.get("GM_2", "a"), None, "ids are per sender");
        memory.remember("GM_1".into(), "d".into(), Arc::new(3));
        assert_eq!(memory.get("GM_1", "a"), None, "the oldest went");
        assert_eq!(memory.get("GM_1", "d"), Some(&3));
        assert_eq!(memory.len(), 3);
    }

    #[test]
    fn a_full_memory_never_grows_under_churn_and_restores_at_full_size() {
        let mut memory = RememberedIds::<u64, SMALL>::default();
        for n in 0..SMALL as u64 {
            memory.remember("user".into(), format!("v{n}"), Arc::new(n));
        }
        let full = memory.answers.capacity();
        assert!(full >= 2 * SMALL, "sized for churn once full: {full}");
        for n in SMALL as u64..(10 * SMALL as u64) {
            memory.remember("user".into(), format!("v{n}"), Arc::new(n));
        }
        assert_eq!(memory.len(), SMALL);
        assert_eq!(memory.answers.len(), SMALL);
        // Removed slots lower the reported capacity until an in-place rehash; a table that
        // grew would report about twice `full`.
        assert!(
            memory.answers.capacity() <= full,
            "one in, one out: no growth ({} > {full})",
            memory.answers.capacity()
        );

        let bytes = postcard::to_stdvec(&memory).expect("encodes");
        let restored: RememberedIds<u64, SMALL> = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(restored, memory);
        assert!(
            restored.answers.capacity() >= 2 * SMALL,
            "restored at full size"
        );
        for key in &restored.order {
            let (table_key, _) = restored.answers.get_key_value(&**key).expect("same keys");
            assert!(Arc::ptr_eq(key, table_key), "one copy of each key");
        }
    }

    #[test]
    fn the_snapshot_bytes_are_a_plain_table_and_order() {
        // Snapshots written before this type existed held the same two fields.
        #[derive(Serialize)]
        struct Before {
            answers: HashMap<(String, String), u8>,
            order: VecDeque<(String, String)>,
        }
        let key = ("GM_1".to_string(), "s1".to_string());
        let before = Before {
            answers: HashMap::from([(key.clone(), 7)]),
            order: VecDeque::from([key]),
        };
        let restored: RememberedIds<u8, 10> =
            postcard::from_bytes(&postcard::to_stdvec(&before).expect("encodes")).expect("decodes");
        assert_eq!(restored.get("GM_1", "s1"), Some(&7));
    }
}
