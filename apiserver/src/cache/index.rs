//! Full-text index (tantivy, in memory). Documents carry only the entity's slot; everything
//! else a result needs is read from the store. One writer thread applies changes and commits at
//! most every `commit_interval`, so a burst of watch events costs one commit, and a change is
//! searchable within that interval.
//!
//! Matching: every query word must match (AND); a word matches a field exactly, as a prefix
//! (typeahead), or within an edit distance of 1 (words of 5+ letters) or 2 (8+ letters), with
//! exact > prefix > fuzzy in the score, and the name/title/tags field weighted over the rest.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use tantivy::{
    DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentOrdinal, SegmentReader,
    TantivyDocument, Term,
    collector::{Collector, SegmentCollector},
    columnar::Column,
    query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery},
    schema::{FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions},
    tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer},
};

use super::{entity::Entity, store::Slot};

const TOKENIZER: &str = "nexus";
/// Longest query accepted, in words; longer queries are a client bug, not a search.
pub const MAX_QUERY_WORDS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("query has more than {MAX_QUERY_WORDS} words")]
    TooManyWords,
}

#[derive(Clone, Copy)]
struct Fields {
    slot: Field,
    primary: Field,
    secondary: Field,
}

pub enum IndexOp {
    Upsert(Slot, Arc<Entity>),
    Delete(Slot),
}

/// The query side, shared by request handlers.
pub struct SearchIndex {
    reader: IndexReader,
    fields: Fields,
    analyzer: TextAnalyzer,
    tx: mpsc::Sender<IndexOp>,
    sent: AtomicU64,
    applied: Arc<AtomicU64>,
}

/// The writer side; run it on its own thread with [`Indexer::run`].
pub struct Indexer {
    writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
    rx: mpsc::Receiver<IndexOp>,
    commit_interval: Duration,
    applied: Arc<AtomicU64>,
}

impl SearchIndex {
    pub fn new(commit_interval: Duration) -> Result<(SearchIndex, Indexer), IndexError> {
        let mut builder = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            slot: builder.add_u64_field("slot", INDEXED | FAST),
            primary: builder.add_text_field("primary", text.clone()),
            secondary: builder.add_text_field("secondary", text),
        };
        let index = Index::create_in_ram(builder.build());
        let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(64))
            .filter(LowerCaser)
            .build();
        index.tokenizers().register(TOKENIZER, analyzer.clone());
        // One indexing thread: the machine budget goes to queries; 50 MB before a flush.
        let writer = index.writer_with_num_threads(1, 50_000_000)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let (tx, rx) = mpsc::channel();
        let applied = Arc::new(AtomicU64::new(0));
        Ok((
            SearchIndex {
                reader: reader.clone(),
                fields,
                analyzer,
                tx,
                sent: AtomicU64::new(0),
                applied: applied.clone(),
            },
            Indexer {
                writer,
                reader,
                fields,
                rx,
                commit_interval,
                applied,
            },
        ))
    }

    pub fn send(&self, op: IndexOp) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        // The indexer only stops when the process does.
        let _ = self.tx.send(op);
    }

    /// Changes not yet searchable.
    pub fn pending(&self) -> u64 {
        self.sent
            .load(Ordering::Relaxed)
            .saturating_sub(self.applied.load(Ordering::Relaxed))
    }

    /// Lower-cased words of a query, as the index tokenised its documents.
    pub fn words(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut words = Vec::new();
        while let Some(token) = stream.next() {
            words.push(token.text.clone());
        }
        words
    }

    /// Slots matching `text` with their scores; `None` when the text has no words (match all).
    pub fn search(&self, text: &str) -> Result<Option<Vec<(Slot, Score)>>, IndexError> {
        self.search_words(&self.words(text))
    }

    /// As [`Self::search`], for words already split by [`Self::words`].
    pub fn search_words(&self, words: &[String]) -> Result<Option<Vec<(Slot, Score)>>, IndexError> {
        if words.is_empty() {
            return Ok(None);
        }
        if words.len() > MAX_QUERY_WORDS {
            return Err(IndexError::TooManyWords);
        }
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in words {
            let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (field, weight) in [(self.fields.primary, 3.0), (self.fields.secondary, 1.0)] {
                let term = Term::from_field_text(field, word);
                should.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
                        2.0 * weight,
                    )),
                ));
                if word.chars().count() >= 2 {
                    should.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(
                            Box::new(FuzzyTermQuery::new_prefix(term.clone(), 0, true)),
                            weight,
                        )),
                    ));
                }
                // Short words would match half the catalog within one edit (`reco` ~ `repo`);
                // they match exactly or as a prefix only.
                let distance = match word.chars().count() {
                    0..=4 => 0,
                    5..=7 => 1,
                    _ => 2,
                };
                if distance > 0 {
                    should.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(
                            Box::new(FuzzyTermQuery::new(term, distance, true)),
                            0.5 * weight,
                        )),
                    ));
                }
            }
            must.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        }
        let query = BooleanQuery::new(must);
        let searcher = self.reader.searcher();
        Ok(Some(searcher.search(&query, &SlotCollector)?))
    }
}

impl Indexer {
    /// Applies changes until every [`SearchIndex`] sender is gone. Blocking: run on a thread.
    pub fn run(mut self) {
        let mut dirty = 0u64;
        let mut first_dirty: Option<Instant> = None;
        loop {
            let wait = match first_dirty {
                Some(at) => self.commit_interval.saturating_sub(at.elapsed()),
                None => Duration::from_secs(3600),
            };
            match self.rx.recv_timeout(wait) {
                Ok(op) => {
                    self.apply(op);
                    dirty += 1;
                    first_dirty.get_or_insert_with(Instant::now);
                    // Drain what is already queued before looking at the clock again.
                    while let Ok(op) = self.rx.try_recv() {
                        self.apply(op);
                        dirty += 1;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.commit(dirty);
                    return;
                }
            }
            if let Some(at) = first_dirty
                && at.elapsed() >= self.commit_interval
            {
                self.commit(dirty);
                dirty = 0;
                first_dirty = None;
            }
        }
    }

    fn apply(&mut self, op: IndexOp) {
        match op {
            IndexOp::Upsert(slot, entity) => {
                self.writer
                    .delete_term(Term::from_field_u64(self.fields.slot, u64::from(slot)));
                let mut doc = TantivyDocument::default();
                doc.add_u64(self.fields.slot, u64::from(slot));
                doc.add_text(self.fields.primary, primary_text(&entity));
                doc.add_text(self.fields.secondary, secondary_text(&entity));
                if let Err(error) = self.writer.add_document(doc) {
                    tracing::error!(%error, entity = %entity.id, "could not index entity");
                }
            }
            IndexOp::Delete(slot) => {
                self.writer
                    .delete_term(Term::from_field_u64(self.fields.slot, u64::from(slot)));
            }
        }
    }

    fn commit(&mut self, ops: u64) {
        if ops == 0 {
            return;
        }
        match self.writer.commit().and_then(|_| self.reader.reload()) {
            Ok(()) => {
                self.applied.fetch_add(ops, Ordering::Relaxed);
            }
            Err(error) => tracing::error!(%error, "search index commit failed; retrying"),
        }
    }
}

fn primary_text(e: &Entity) -> String {
    let mut text = String::with_capacity(128);
    text.push_str(&e.id.name);
    text.push(' ');
    text.push_str(e.display_name());
    if let Some(title) = &e.title {
        text.push(' ');
        text.push_str(title);
    }
    for tag in &e.tags {
        text.push(' ');
        text.push_str(tag);
    }
    text
}

fn secondary_text(e: &Entity) -> String {
    let parts = [
        e.id.kind.ref_name(),
        &e.id.namespace,
        e.description.as_deref().unwrap_or_default(),
        e.type_.as_deref().unwrap_or_default(),
        e.lifecycle.as_deref().unwrap_or_default(),
        &e.annotations_text,
        &e.spec_text,
    ];
    let mut text = parts.join(" ");
    if let Some(owner) = &e.owner {
        text.push(' ');
        text.push_str(&owner.name);
    }
    text
}

/// Collects (slot, score) of every hit; the caller filters, sorts and pages.
struct SlotCollector;

struct SlotSegmentCollector {
    slots: Column<u64>,
    hits: Vec<(Slot, Score)>,
}

impl Collector for SlotCollector {
    type Fruit = Vec<(Slot, Score)>;
    type Child = SlotSegmentCollector;

    fn for_segment(
        &self,
        _ordinal: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<SlotSegmentCollector> {
        Ok(SlotSegmentCollector {
            slots: segment.fast_fields().u64("slot")?,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(Slot, Score)>>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for SlotSegmentCollector {
    type Fruit = Vec<(Slot, Score)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if let Some(slot) = self.slots.first(doc).and_then(|s| Slot::try_from(s).ok()) {
            self.hits.push((slot, score));
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.hits
    }
}

#[cfg(test)]
mod tests {
    use nexus_api::EntityKind;
    use serde_json::json;

    use super::*;

    fn entity(name: &str, title: &str, description: &str, tags: &[&str]) -> Arc<Entity> {
        Arc::new(
            Entity::from_object(
                EntityKind::Component,
                json!({"kind": "Component",
                    "metadata": {"name": name, "namespace": "team-a", "resourceVersion": "1"},
                    "spec": {"title": title, "description": description, "tags": tags}}),
            )
            .unwrap(),
        )
    }

    fn wait(index: &SearchIndex) {
        for _ in 0..200 {
            if index.pending() == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("index did not commit");
    }

    fn slots(index: &SearchIndex, q: &str) -> Vec<Slot> {
        let mut hits = index.search(q).unwrap().unwrap();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1));
        hits.into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn exact_prefix_and_typo_matches_rank_in_that_order() {
        let (index, indexer) = SearchIndex::new(Duration::from_millis(10)).unwrap();
        std::thread::spawn(move || indexer.run());
        index.send(IndexOp::Upsert(
            0,
            entity("checkout", "Checkout", "takes payments", &["pci"]),
        ));
        index.send(IndexOp::Upsert(
            1,
            entity("checkout-ui", "Checkout UI", "web front", &[]),
        ));
        index.send(IndexOp::Upsert(
            2,
            entity("ledger", "Ledger", "double-entry checkout ledger", &[]),
        ));
        index.send(IndexOp::Upsert(
            3,
            entity("search", "Search", "finds things", &["java"]),
        ));
        wait(&index);

        assert_eq!(
            slots(&index, "checkout")[..2],
            [0, 1],
            "name/title beat description"
        );
        assert!(slots(&index, "checkout").contains(&2));
        assert_eq!(slots(&index, "chec"), slots(&index, "checkout"), "prefix");
        assert_eq!(slots(&index, "chekout")[0], 0, "one typo");
        assert_eq!(slots(&index, "checkout ui"), [1], "every word must match");
        assert_eq!(slots(&index, "PCI"), [0], "case-insensitive tags");
        assert!(index.search("zzzzqqq").unwrap().unwrap().is_empty());
        assert!(
            index.search("  --  ").unwrap().is_none(),
            "no words: match all"
        );
        let long = vec!["w"; MAX_QUERY_WORDS + 1].join(" ");
        assert!(matches!(index.search(&long), Err(IndexError::TooManyWords)));

        index.send(IndexOp::Delete(0));
        index.send(IndexOp::Upsert(
            3,
            entity("search", "Search", "finds checkout things", &[]),
        ));
        wait(&index);
        let after = slots(&index, "checkout");
        assert!(!after.contains(&0) && after.contains(&3));
        assert_eq!(
            slots(&index, "java"),
            Vec::<Slot>::new(),
            "replaced document"
        );
    }
}
