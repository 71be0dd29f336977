//! Lifecycle rules run: the due tree and the housekeeping pass over it.
//!
//! `Tree::Due` holds, for each key and each multipart upload a rule may act on, when it may
//! next act: `due (big-endian ns) | kind | bucket/key [NUL upload-id]`. An entry is a hint:
//! when it falls due, the key (or upload) is looked at afresh against its bucket's rules as
//! they are then, what is due is done through the ordinary paths (`Core::commit` by way of a
//! delete, a delete marker, a version's removal, an upload's abort: whatever guards them guards
//! lifecycle too), and the key's next due time is entered. So an entry that a later change
//! made stale (an object rewritten, a rule removed) costs one look and does nothing, and a pass
//! costs what is due, not the size of the buckets.
//!
//! Entries are made when a key changes (after every commit, in a bucket that has rules, and when
//! a rescan or the watch corrects its record), when an upload starts, and for a whole bucket
//! when its rules are set: that one walks the bucket. An entry is removed once acted on, so a
//! crash mid-pass leaves it to the next pass, which looks at the key afresh.
//!
//! The entries of a changed key or a new upload are made on the core (`Core::schedule_key`,
//! `Core::schedule_upload`), since the commit point makes them. [`Lifecycle`] holds the core and
//! knows no `Vfs`: it walks a bucket whose rules were set, runs the pass, and does what falls
//! due through the [`Actions`] its caller hands it (the facade's deletes, markers, version
//! removals and aborts).

use std::sync::Arc;
use std::time::SystemTime;

use crate::bucket::lifecycle::{current_expiry, due_after, Expiration, LifecycleRule, Subject};
use crate::bucket::record::Versioning;
use crate::clock::now_ns;
use crate::core::Core;
use crate::error::{Result, VfsError};
use crate::index::ObjectMeta;
use crate::key;
use crate::meta::{Edit, Tree};
use crate::multipart::records::UploadRecord;
use crate::object::{ObjectInfo, Precondition};
use crate::remote::time_from_ns;
use crate::version_row::{rows, VersionRecord};

/// An entry for a key (its versions included).
const KEY: u8 = b'k';
/// An entry for a multipart upload.
const UPLOAD: u8 = b'u';

/// The most entries one pass acts on, so that housekeeping's other work is not held up.
const PASS_LIMIT: usize = 10_000;

fn entry_key(due: i64, kind: u8, bucket: &str, key: &str, upload: Option<&str>) -> Vec<u8> {
    let mut k = (due.max(0) as u64).to_be_bytes().to_vec();
    k.push(kind);
    k.extend(key::index_key(bucket, key));
    if let Some(id) = upload {
        k.push(0);
        k.extend_from_slice(id.as_bytes());
    }
    k
}

/// One entry of the due tree, read back.
struct Entry {
    kind: u8,
    bucket: String,
    key: String,
    upload: Option<String>,
}

fn parse_entry(k: &[u8]) -> Option<Entry> {
    let (&kind, rest) = k.get(8..)?.split_first()?;
    let (name, upload) = match kind {
        UPLOAD => {
            let nul = rest.iter().rposition(|&b| b == 0)?;
            let id = String::from_utf8(rest[nul + 1..].to_vec()).ok()?;
            (&rest[..nul], Some(id))
        }
        _ => (rest, None),
    };
    let name = std::str::from_utf8(name).ok()?;
    let (bucket, key) = name.split_once('/')?;
    Some(Entry {
        kind,
        bucket: bucket.to_string(),
        key: key.to_string(),
        upload,
    })
}

/// The key a record of `tree` (objects, versions or uploads) is about, its bucket's prefix
/// (`prefix` bytes) left out.
fn key_of(tree: Tree, k: &[u8], prefix: usize) -> Option<&str> {
    // A version row ends in NUL and an 8-byte counter (which may hold zeros); an upload's in
    // NUL and its id (hex).
    let end = match tree {
        Tree::Versions => k.len().checked_sub(9)?,
        Tree::Uploads => k.iter().rposition(|&b| b == 0)?,
        _ => k.len(),
    };
    std::str::from_utf8(k.get(prefix..end)?).ok()
}

/// What the index holds of one key: its current record, and its noncurrent versions and
/// markers, newest first.
struct KeyState {
    current: Option<ObjectMeta>,
    rows: Vec<VersionRecord>,
}

/// Something a rule does to a key now.
#[derive(Debug, PartialEq)]
enum Act {
    /// The current version expires, unless it changed since it was read.
    ExpireCurrent {
        etag: String,
        written: i64,
        version: Option<String>,
    },
    /// A noncurrent version or a delete marker goes for good, unless the current version
    /// (its id; none when there is no current record) changed since it was read.
    DropVersion {
        id: String,
        current: Option<Option<String>>,
    },
}

/// What `rules` do to a key at `now`, and when they next may (the earliest time not yet
/// reached).
fn plan(
    rules: &[LifecycleRule],
    key: &str,
    state: &KeyState,
    now: i64,
    day: i64,
) -> (Vec<Act>, Option<i64>) {
    let mut acts = Vec::new();
    let mut next: Option<i64> = None;
    let mut consider = |due: i64, act: Act, acts: &mut Vec<Act>| {
        if due <= now {
            if !acts.contains(&act) {
                acts.push(act);
            }
        } else {
            next = Some(next.map_or(due, |n| n.min(due)));
        }
    };
    let enabled = || rules.iter().filter(|r| r.enabled);
    let current = state
        .current
        .as_ref()
        .map(|m| m.version.map(|v| v.to_string()));
    let drop_version = |row: &VersionRecord| Act::DropVersion {
        id: row.id.to_string(),
        current: current.clone(),
    };
    if let Some(meta) = &state.current {
        let subject = Subject {
            key,
            size: Some(meta.fingerprint.size),
            tags: &meta.attrs.tags,
        };
        if let Some((due, _)) = current_expiry(rules, &subject, meta.written_ns(), day) {
            let act = Act::ExpireCurrent {
                etag: meta.etag.clone(),
                written: meta.written_ns(),
                version: meta.version.map(|v| v.to_string()),
            };
            consider(due, act, &mut acts);
        }
    }
    // A delete marker with no record above it is the current version.
    let marker_current =
        state.current.is_none() && state.rows.first().is_some_and(|r| r.object.is_none());
    let first_noncurrent = usize::from(marker_current);
    for rule in enabled() {
        let Some(nc) = rule.noncurrent_expiration else {
            continue;
        };
        let keep = nc.newer_versions.unwrap_or(0) as usize;
        for (i, row) in state.rows.iter().enumerate().skip(first_noncurrent) {
            if i - first_noncurrent < keep {
                continue;
            }
            let subject = Subject {
                key,
                size: row.object.as_ref().map(|m| m.fingerprint.size),
                tags: row.object.as_ref().map_or(&[], |m| &m.attrs.tags),
            };
            if !rule.filter.matches(&subject) {
                continue;
            }
            // A marker overwritten keeps no time of it: it stopped being current when the
            // version above it was made.
            let became = match row.noncurrent_ns {
                0 if i > 0 => state.rows[i - 1].made_ns,
                0 => state
                    .current
                    .as_ref()
                    .map_or(row.made_ns, |m| m.written_ns()),
                t => t,
            };
            let due = due_after(became, nc.days, day);
            consider(due, drop_version(row), &mut acts);
        }
    }
    // A marker that is the last version of its key: expired by ExpiredObjectDeleteMarker, and
    // by Days once it is that old, as S3 does.
    if marker_current && state.rows.len() == 1 {
        let marker = &state.rows[0];
        let subject = Subject {
            key,
            size: None,
            tags: &[],
        };
        for rule in enabled().filter(|r| r.filter.matches(&subject)) {
            let due = match rule.expiration {
                Some(Expiration::ExpiredObjectDeleteMarker) => marker.made_ns,
                Some(Expiration::Days(d)) => due_after(marker.made_ns, d, day),
                _ => continue,
            };
            consider(due, drop_version(marker), &mut acts);
        }
    }
    (acts, next)
}

/// The rules of `bucket` that could act, from its record in the index (no remote call: this
/// runs after every change of a key).
fn active_rules(core: &Core, bucket: &str) -> Result<Option<(Vec<LifecycleRule>, Versioning)>> {
    let Some(record) = core.bucket_record(bucket)? else {
        return Ok(None);
    };
    Ok(record
        .lifecycle
        .as_ref()
        .filter(|rules| rules.iter().any(|r| r.enabled))
        .map(|rules| (rules.clone(), record.versioning)))
}

impl Core {
    fn key_state(&self, bucket: &str, key: &str) -> Result<KeyState> {
        Ok(KeyState {
            current: self.index.get(bucket, key)?,
            rows: rows(&self.index, bucket, key, usize::MAX)?,
        })
    }

    /// The due entry of `bucket/key` under `rules`, if any rule will act on it.
    fn key_entry(&self, rules: &[LifecycleRule], bucket: &str, key: &str) -> Result<Option<Edit>> {
        let state = self.key_state(bucket, key)?;
        let (_, next) = plan(rules, key, &state, i64::MIN, self.lifecycle_day);
        Ok(next.map(|due| Edit::Put(Tree::Due, entry_key(due, KEY, bucket, key, None), vec![])))
    }

    /// When `rules` abort an upload of `key` begun at `initiated`, if any does.
    fn upload_due(&self, rules: &[LifecycleRule], key: &str, initiated: i64) -> Option<i64> {
        let subject = Subject {
            key,
            size: None,
            tags: &[],
        };
        rules
            .iter()
            .filter(|r| r.enabled && r.filter.matches(&subject))
            .filter_map(|r| r.abort_upload_days)
            .map(|d| due_after(initiated, d, self.lifecycle_day))
            .min()
    }

    /// The due entry of an upload under `rules`, if any rule will abort it.
    fn upload_entry(
        &self,
        rules: &[LifecycleRule],
        bucket: &str,
        key: &str,
        id: &str,
        initiated: i64,
    ) -> Option<Edit> {
        let due = self.upload_due(rules, key, initiated)?;
        let entry = entry_key(due, UPLOAD, bucket, key, Some(id));
        Some(Edit::Put(Tree::Due, entry, vec![]))
    }

    /// Enters when the rules of `bucket` next act on `key`, after a change of the key. A
    /// failure is logged, not returned: the change itself was made.
    pub(crate) async fn schedule_key(&self, bucket: &str, key: &str) {
        let entry = match active_rules(self, bucket) {
            Ok(Some((rules, _))) => self.key_entry(&rules, bucket, key),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        let done = match entry {
            Ok(Some(edit)) => self.index.apply(vec![edit]).await,
            Ok(None) => return,
            Err(e) => Err(e),
        };
        if let Err(e) = done {
            tracing::warn!(bucket, key, error = %e, "lifecycle due date not recorded");
        }
    }

    /// Enters when the rules of `bucket` abort a new upload.
    pub(crate) async fn schedule_upload(&self, bucket: &str, key: &str, id: &str, initiated: i64) {
        let done = match active_rules(self, bucket) {
            Ok(Some((rules, _))) => match self.upload_entry(&rules, bucket, key, id, initiated) {
                Some(edit) => self.index.apply(vec![edit]).await,
                None => return,
            },
            Ok(None) => return,
            Err(e) => Err(e),
        };
        if let Err(e) = done {
            tracing::warn!(bucket, key, error = %e, "lifecycle due date not recorded");
        }
    }
}

/// Lifecycle rules run: the core, whose index holds the due tree. Its actions go through the
/// ordinary paths its caller hands it ([`Actions`]).
pub(crate) struct Lifecycle {
    core: Arc<Core>,
}

/// What a rule that falls due does, through the ordinary paths, each only while `unchanged`
/// holds on the key's current version: so whatever guards those paths guards lifecycle too.
pub(crate) trait Actions {
    /// Deletes the current version (a bucket that never kept versions).
    async fn delete_if(&self, bucket: &str, key: &str, unchanged: &Precondition) -> Result<()>;
    /// Puts a delete marker over the current version.
    async fn mark_if(&self, bucket: &str, key: &str, unchanged: &Precondition) -> Result<()>;
    /// Removes version `id` for good, without bypassing a GOVERNANCE retention.
    async fn drop_version_if(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        unchanged: &Precondition,
    ) -> Result<()>;
    /// When upload `id` began, while it is open (`None` once completed or gone).
    fn upload_initiated(&self, bucket: &str, key: &str, id: &str) -> Result<Option<i64>>;
    /// Aborts upload `id`.
    async fn abort_upload(&self, bucket: &str, key: &str, id: &str) -> Result<()>;
}

impl Lifecycle {
    pub(crate) fn new(core: Arc<Core>) -> Lifecycle {
        Lifecycle { core }
    }

    /// Enters the due dates of every key and upload of `bucket` that `rules` (just set) act
    /// on: the one walk of the bucket lifecycle makes.
    pub(crate) async fn enter_bucket(&self, bucket: &str, rules: &[LifecycleRule]) -> Result<()> {
        let start = key::index_key(bucket, "");
        let end = key::prefix_end(&start);
        let mut edits = Vec::new();
        // Keys with a current record, then keys with kept versions only (a key's rows are
        // next to each other), then uploads; a page at a time.
        for tree in [Tree::Objects, Tree::Versions, Tree::Uploads] {
            let mut from = start.clone();
            let mut last = String::new();
            loop {
                let page = self
                    .core
                    .index
                    .range_in(tree, &from, end.as_deref(), 1000)?;
                let Some((k, _)) = page.last() else {
                    break;
                };
                from = [k.as_slice(), &[0]].concat();
                for (k, v) in &page {
                    let Some(name) = key_of(tree, k, start.len()) else {
                        continue;
                    };
                    match tree {
                        Tree::Uploads => {
                            let id = String::from_utf8_lossy(&k[start.len() + name.len() + 1..]);
                            let Ok(record) = serde_json::from_slice::<UploadRecord>(v) else {
                                continue;
                            };
                            if record.completed.is_none() {
                                let initiated = record.initiated_ns;
                                edits.extend(
                                    self.core.upload_entry(rules, bucket, name, &id, initiated),
                                );
                            }
                        }
                        Tree::Versions
                            if last == name || self.core.index.get(bucket, name)?.is_some() => {}
                        _ => edits.extend(self.core.key_entry(rules, bucket, name)?),
                    }
                    if tree == Tree::Versions {
                        last = name.to_string();
                    }
                }
                if edits.len() >= 1000 {
                    self.core.index.apply(std::mem::take(&mut edits)).await?;
                }
            }
        }
        if !edits.is_empty() {
            self.core.index.apply(edits).await?;
        }
        Ok(())
    }

    /// Runs what lifecycle rules have due: one pass over the due tree up to now. Returns how
    /// many objects, versions and uploads went.
    pub(crate) async fn run(&self, actions: &impl Actions) -> Result<usize> {
        let now = now_ns();
        let end = ((now.max(0) as u64) + 1).to_be_bytes();
        let mut acted = 0;
        let mut seen = 0;
        while seen < PASS_LIMIT {
            let batch = self.core.index.range_in(Tree::Due, &[], Some(&end), 256)?;
            if batch.is_empty() {
                break;
            }
            seen += batch.len();
            for (k, _) in &batch {
                let Some(e) = parse_entry(k) else {
                    continue;
                };
                acted += match (e.kind, e.upload) {
                    (UPLOAD, Some(id)) => {
                        self.run_upload(actions, &e.bucket, &e.key, &id, now)
                            .await?
                    }
                    (KEY, _) => self.run_key(actions, &e.bucket, &e.key, now).await?,
                    _ => 0,
                };
            }
            // Removed once acted on: what acting entered is due after `now`, so never one of
            // these.
            let removal = batch
                .into_iter()
                .map(|(k, _)| Edit::Delete(Tree::Due, k))
                .collect();
            self.core.index.apply(removal).await?;
        }
        Ok(acted)
    }

    /// Does what is due to one key, then enters its next due date.
    async fn run_key(
        &self,
        actions: &impl Actions,
        bucket: &str,
        key: &str,
        now: i64,
    ) -> Result<usize> {
        let mut acted = 0;
        // Each round acts on the key as it is then (a version gone may leave a marker alone);
        // a key still busy after a few is looked at again in the next pass.
        for _ in 0..4 {
            let Some((rules, versioning)) = active_rules(&self.core, bucket)? else {
                return Ok(acted);
            };
            let state = self.core.key_state(bucket, key)?;
            let (acts, next) = plan(&rules, key, &state, now, self.core.lifecycle_day);
            if acts.is_empty() {
                if let Some(due) = next {
                    let entry = entry_key(due, KEY, bucket, key, None);
                    self.core
                        .index
                        .apply(vec![Edit::Put(Tree::Due, entry, vec![])])
                        .await?;
                }
                return Ok(acted);
            }
            for act in acts {
                match act_on(actions, bucket, key, versioning, act).await {
                    Ok(()) => acted += 1,
                    // Rewritten, or removed, since it was read: the next round sees it.
                    Err(VfsError::PreconditionFailed) | Err(VfsError::NoSuchVersion) => {}
                    Err(VfsError::NoSuchBucket) => return Ok(acted),
                    Err(e) => {
                        // Refused (a locked version, a remote that failed): try again a day
                        // later.
                        tracing::warn!(bucket, key, error = %e, "lifecycle action failed");
                        let entry =
                            entry_key(now + self.core.lifecycle_day, KEY, bucket, key, None);
                        self.core
                            .index
                            .apply(vec![Edit::Put(Tree::Due, entry, vec![])])
                            .await?;
                        return Ok(acted);
                    }
                }
            }
        }
        let entry = entry_key(now + 1, KEY, bucket, key, None);
        self.core
            .index
            .apply(vec![Edit::Put(Tree::Due, entry, vec![])])
            .await?;
        Ok(acted)
    }

    /// Aborts an upload once a rule's days have passed since it began.
    async fn run_upload(
        &self,
        actions: &impl Actions,
        bucket: &str,
        key: &str,
        id: &str,
        now: i64,
    ) -> Result<usize> {
        let Some((rules, _)) = active_rules(&self.core, bucket)? else {
            return Ok(0);
        };
        let Some(initiated) = actions.upload_initiated(bucket, key, id)? else {
            return Ok(0);
        };
        let Some(due) = self.core.upload_due(&rules, key, initiated) else {
            return Ok(0);
        };
        if due > now {
            let entry = entry_key(due, UPLOAD, bucket, key, Some(id));
            self.core
                .index
                .apply(vec![Edit::Put(Tree::Due, entry, vec![])])
                .await?;
            return Ok(0);
        }
        match actions.abort_upload(bucket, key, id).await {
            Ok(()) => Ok(1),
            Err(VfsError::NoSuchUpload) => Ok(0),
            Err(e) => {
                tracing::warn!(bucket, key, upload = id, error = %e, "lifecycle abort failed");
                let entry = entry_key(now + self.core.lifecycle_day, UPLOAD, bucket, key, Some(id));
                self.core
                    .index
                    .apply(vec![Edit::Put(Tree::Due, entry, vec![])])
                    .await?;
                Ok(0)
            }
        }
    }

    /// When the current version `info` of `bucket/key` expires under the bucket's enabled
    /// rules, and by which rule: what `x-amz-expiration` says. Read from the index alone (no
    /// call to the remote): it is asked on every PUT, HEAD and GET.
    pub(crate) fn expiration(
        &self,
        bucket: &str,
        key: &str,
        info: &ObjectInfo,
    ) -> Result<Option<(SystemTime, String)>> {
        let Some((rules, _)) = active_rules(&self.core, bucket)? else {
            return Ok(None);
        };
        let subject = Subject {
            key,
            size: Some(info.size),
            tags: &info.attrs.tags,
        };
        let written = crate::remote::ns_from_time(info.last_modified);
        Ok(
            current_expiry(&rules, &subject, written, self.core.lifecycle_day)
                .map(|(due, id)| (time_from_ns(due), id.to_string())),
        )
    }
}

/// Does `act` to `bucket/key` through `actions`.
async fn act_on(
    actions: &impl Actions,
    bucket: &str,
    key: &str,
    versioning: Versioning,
    act: Act,
) -> Result<()> {
    match act {
        Act::ExpireCurrent {
            etag,
            written,
            version,
        } => {
            let expected = time_from_ns(written);
            let unchanged: Precondition = Box::new(move |info: Option<&ObjectInfo>| match info {
                Some(i)
                    if i.etag == etag && i.last_modified == expected && i.version_id == version =>
                {
                    Ok(())
                }
                _ => Err(VfsError::PreconditionFailed),
            });
            if versioning == Versioning::Unversioned {
                actions.delete_if(bucket, key, &unchanged).await
            } else {
                actions.mark_if(bucket, key, &unchanged).await
            }
        }
        Act::DropVersion { id, current } => {
            let unchanged: Precondition = Box::new(move |info: Option<&ObjectInfo>| {
                match info.map(|i| i.version_id.clone()) == current {
                    true => Ok(()),
                    false => Err(VfsError::PreconditionFailed),
                }
            });
            actions.drop_version_if(bucket, key, &id, &unchanged).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::lifecycle::{LifecycleFilter, NoncurrentExpiration};
    use crate::remote::Fingerprint;
    use crate::version_id::VersionId;

    const DAY: i64 = 1_000;

    fn meta(written: i64) -> ObjectMeta {
        ObjectMeta {
            fingerprint: Fingerprint {
                size: 1,
                mtime_ns: written,
                id: 0,
            },
            etag: "e".into(),
            version: None,
            attrs: Default::default(),
            parts: Vec::new(),
            modified_ns: None,
            in_write_cache: false,
            store: None,
        }
    }

    fn row(seq: u64, made: i64, noncurrent: i64, marker: bool) -> VersionRecord {
        VersionRecord {
            id: VersionId {
                seq,
                ms: 0,
                null: false,
            },
            object: (!marker).then(|| meta(made)),
            file: None,
            made_ns: made,
            noncurrent_ns: noncurrent,
        }
    }

    fn rule(
        expiration: Option<Expiration>,
        noncurrent: Option<NoncurrentExpiration>,
    ) -> LifecycleRule {
        LifecycleRule {
            id: "r".into(),
            enabled: true,
            filter: LifecycleFilter::default(),
            expiration,
            noncurrent_expiration: noncurrent,
            abort_upload_days: None,
        }
    }

    fn dropped(acts: &[Act]) -> Vec<String> {
        acts.iter()
            .filter_map(|a| match a {
                Act::DropVersion { id, .. } => Some(id.clone()),
                Act::ExpireCurrent { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_current_version_expires_at_its_day_and_not_before() {
        let rules = [rule(Some(Expiration::Days(2)), None)];
        let state = KeyState {
            current: Some(meta(500)),
            rows: Vec::new(),
        };
        let (acts, next) = plan(&rules, "k", &state, 2_999, DAY);
        assert!(acts.is_empty());
        assert_eq!(next, Some(3_000));
        let (acts, next) = plan(&rules, "k", &state, 3_000, DAY);
        assert!(matches!(
            &acts[..],
            [Act::ExpireCurrent { written: 500, .. }]
        ));
        assert_eq!(next, None);
    }

    #[test]
    fn noncurrent_versions_count_from_when_they_were_replaced_and_keep_the_newer_ones() {
        let nc = NoncurrentExpiration {
            days: 1,
            newer_versions: Some(1),
        };
        let rules = [rule(None, Some(nc))];
        // Newest first: replaced at 3500, 2500 and (a marker, which keeps no time) when the
        // version above it was made, 1200.
        let state = KeyState {
            current: Some(meta(3_500)),
            rows: vec![
                row(3, 2_500, 3_500, false),
                row(2, 1_200, 2_500, false),
                row(1, 1_000, 0, true),
            ],
        };
        let (acts, next) = plan(&rules, "k", &state, 10_000, DAY);
        assert_eq!(dropped(&acts).len(), 2, "the newest noncurrent one is kept");
        assert!(!dropped(&acts).contains(&state.rows[0].id.to_string()));
        assert_eq!(next, None);
        // Due at the midnight after a day past 2500 (4000) and 1200 (3000).
        let (acts, next) = plan(&rules, "k", &state, 2_999, DAY);
        assert_eq!((acts, next), (vec![], Some(3_000)));
        let (acts, next) = plan(&rules, "k", &state, 3_000, DAY);
        assert_eq!(dropped(&acts), vec![state.rows[2].id.to_string()]);
        assert_eq!(next, Some(4_000));
    }

    #[test]
    fn a_marker_goes_only_when_it_is_the_last_version() {
        let rules = [rule(Some(Expiration::ExpiredObjectDeleteMarker), None)];
        let alone = KeyState {
            current: None,
            rows: vec![row(2, 1_000, 0, true)],
        };
        let (acts, _) = plan(&rules, "k", &alone, 1_000, DAY);
        assert_eq!(dropped(&acts), vec![alone.rows[0].id.to_string()]);
        let covering = KeyState {
            current: None,
            rows: vec![row(2, 1_000, 0, true), row(1, 500, 1_000, false)],
        };
        assert_eq!(plan(&rules, "k", &covering, 9_000, DAY), (vec![], None));
    }

    #[test]
    fn the_key_of_each_record_is_found() {
        let prefix = key::index_key("bkt", "").len();
        // The inverted counter of version 255 ends in a zero byte.
        let row = crate::version_row::row_key("bkt", "a/b", 255);
        assert_eq!(row.last(), Some(&0));
        assert_eq!(key_of(Tree::Versions, &row, prefix), Some("a/b"));
        let upload = crate::multipart::records::upload_key("bkt", "a/b", "0123abcd");
        assert_eq!(key_of(Tree::Uploads, &upload, prefix), Some("a/b"));
        let record = key::index_key("bkt", "a/b");
        assert_eq!(key_of(Tree::Objects, &record, prefix), Some("a/b"));
    }

    #[test]
    fn due_entries_read_back() {
        let k = entry_key(42, UPLOAD, "bkt", "a/b", Some("id"));
        let e = parse_entry(&k).unwrap();
        assert_eq!(
            (
                e.kind,
                e.bucket.as_str(),
                e.key.as_str(),
                e.upload.as_deref()
            ),
            (UPLOAD, "bkt", "a/b", Some("id"))
        );
        let e = parse_entry(&entry_key(7, KEY, "bkt", "k", None)).unwrap();
        assert_eq!((e.kind, e.key.as_str(), e.upload), (KEY, "k", None));
        assert!(entry_key(1, KEY, "b", "z", None) < entry_key(2, KEY, "a", "a", None));
    }
}
