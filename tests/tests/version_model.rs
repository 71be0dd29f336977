//! Model-based versioning test: random puts, deletes, deletes of one version and switches of the
//! bucket's versioning, each sent to the server and applied to a plain model of S3's version
//! stacks; then every key's history (ListObjectVersions, paged), every version by id, every
//! current object and the plain listing must be as the model says.
//!
//! The model, as S3 documents it: each key has a stack of versions, newest first. Before
//! versioning is first enabled, and while it is Suspended, a write or a delete replaces the
//! `null` version wherever it sits in the stack and puts its result on top (a delete's result
//! is a `null` delete marker; before versioning, a delete just removes the object). While
//! Enabled, a write pushes a new version and a delete pushes a new marker. Deleting a version
//! by id removes just that one; the key's current version is then what is on top. A folder
//! marker (`d/`, written empty, sometimes with content) is a key like the others.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::common::*;

/// `d/` is a folder marker (written empty, or on odd steps with content, which the store of keys
/// holds beside its folder), whose folder the other keys under it share.
const KEYS: [&str; 4] = ["k", "d/", "d/k", "d/k2"];

#[derive(Debug, Clone)]
enum Step {
    Put(usize),
    Delete(usize),
    /// Deletes the version at this depth (modulo the stack's height) of the key's stack.
    DeleteVersion(usize, usize),
    Versioning(bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..KEYS.len()).prop_map(Step::Put),
        2 => (0..KEYS.len()).prop_map(Step::Delete),
        2 => (0..KEYS.len(), 0..4usize).prop_map(|(k, d)| Step::DeleteVersion(k, d)),
        1 => any::<bool>().prop_map(Step::Versioning),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    id: String,
    /// `None` for a delete marker.
    data: Option<Vec<u8>>,
}

#[derive(Default)]
struct Model {
    /// `None` before versioning is first enabled; then whether it is Enabled.
    enabled: Option<bool>,
    stacks: BTreeMap<&'static str, Vec<Version>>,
}

impl Model {
    /// Where a write or delete replaces the `null` version rather than adding one.
    fn replaces_null(&self) -> bool {
        self.enabled != Some(true)
    }

    fn push(&mut self, key: &'static str, v: Version) {
        let stack = self.stacks.entry(key).or_default();
        if self.enabled != Some(true) {
            stack.retain(|old| old.id != "null");
        }
        stack.insert(0, v);
    }
}

/// Runs one step against the server and the model.
async fn apply(
    s: &TestServer,
    bucket: &str,
    m: &mut Model,
    step: &Step,
    n: usize,
) -> Result<(), String> {
    match *step {
        Step::Put(k) => {
            let key = KEYS[k];
            let data = match key.ends_with('/') && n.is_multiple_of(2) {
                true => Vec::new(),
                false => format!("{key} #{n}").into_bytes(),
            };
            let out = s
                .client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .map_err(|e| format!("put {key}: {}", describe(&e)))?;
            // S3 names the version a write made only while Enabled: the null version made
            // before versioning or while Suspended goes unnamed in the answer.
            let id = match (m.enabled, out.version_id()) {
                (None | Some(false), None) => "null".to_string(),
                (None, Some(v)) => return Err(format!("a version id {v} before versioning")),
                (Some(false), Some(v)) => return Err(format!("version {v} named while Suspended")),
                (Some(true), None) => return Err(format!("put {key}: no version id")),
                (Some(true), Some("null")) => return Err("null while Enabled".into()),
                (Some(true), Some(v)) => v.to_string(),
            };
            m.push(
                key,
                Version {
                    id,
                    data: Some(data),
                },
            );
        }
        Step::Delete(k) => {
            let key = KEYS[k];
            let out = s
                .client
                .delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| format!("delete {key}: {}", describe(&e)))?;
            if m.enabled.is_none() {
                m.stacks.remove(key);
                return Ok(());
            }
            if out.delete_marker() != Some(true) {
                return Err(format!("delete {key}: no marker made"));
            }
            let id = out
                .version_id()
                .ok_or_else(|| format!("delete {key}: no marker version id"))?;
            if m.replaces_null() != (id == "null") {
                return Err(format!(
                    "delete {key}: marker {id} (enabled: {:?})",
                    m.enabled
                ));
            }
            m.push(
                key,
                Version {
                    id: id.to_string(),
                    data: None,
                },
            );
        }
        Step::DeleteVersion(k, depth) => {
            let key = KEYS[k];
            let Some(stack) = m.stacks.get_mut(key).filter(|s| !s.is_empty()) else {
                return Ok(());
            };
            let gone = stack.remove(depth % stack.len());
            if stack.is_empty() {
                m.stacks.remove(key);
            }
            let out = s
                .client
                .delete_object()
                .bucket(bucket)
                .key(key)
                .version_id(&gone.id)
                .send()
                .await
                .map_err(|e| format!("delete {key}@{}: {}", gone.id, describe(&e)))?;
            if out.version_id() != Some(gone.id.as_str())
                || (out.delete_marker() == Some(true)) != gone.data.is_none()
            {
                return Err(format!("delete {key}@{}: answered {out:?}", gone.id));
            }
        }
        Step::Versioning(on) => {
            if m.enabled.is_none() && !on {
                return Ok(()); // Suspended before ever Enabled: S3 takes it; nothing to model.
            }
            let status = match on {
                true => BucketVersioningStatus::Enabled,
                false => BucketVersioningStatus::Suspended,
            };
            s.client
                .put_bucket_versioning()
                .bucket(bucket)
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .map_err(|e| format!("versioning {on}: {}", describe(&e)))?;
            m.enabled = Some(on);
        }
    }
    Ok(())
}

/// Every key's history as ListObjectVersions pages it, newest first: (id, is a marker, latest).
async fn histories(
    s: &TestServer,
    bucket: &str,
) -> Result<BTreeMap<String, Vec<(String, bool, bool)>>, String> {
    let mut out: BTreeMap<String, Vec<(u64, String, bool, bool)>> = BTreeMap::new();
    let (mut km, mut vm) = (None::<String>, None::<String>);
    let mut seen = 0u64;
    for _ in 0..100 {
        let page = s
            .client
            .list_object_versions()
            .bucket(bucket)
            .max_keys(2)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        // The SDK splits a page into its versions and its markers, each list newest first
        // within a key; `check` compares the two apart.
        let mut page_entries: Vec<(String, String, bool, bool)> = page
            .versions()
            .iter()
            .map(|v| {
                (
                    v.key().unwrap_or_default().to_string(),
                    v.version_id().unwrap_or_default().to_string(),
                    false,
                    v.is_latest() == Some(true),
                )
            })
            .chain(page.delete_markers().iter().map(|d| {
                (
                    d.key().unwrap_or_default().to_string(),
                    d.version_id().unwrap_or_default().to_string(),
                    true,
                    d.is_latest() == Some(true),
                )
            }))
            .collect();
        if page_entries.len() > 2 {
            return Err(format!("{} entries on a page of 2", page_entries.len()));
        }
        page_entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, id, marker, latest) in page_entries {
            seen += 1;
            out.entry(key).or_default().push((seen, id, marker, latest));
        }
        if page.is_truncated() != Some(true) {
            return Ok(out
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().map(|(_, i, m, l)| (i, m, l)).collect()))
                .collect());
        }
        km = page.next_key_marker().map(str::to_string);
        vm = page.next_version_id_marker().map(str::to_string);
    }
    Err("more than 100 pages".into())
}

/// Checks the server against the model.
async fn check(s: &TestServer, bucket: &str, m: &Model) -> Result<(), String> {
    let got = histories(s, bucket).await?;
    let want: BTreeMap<String, Vec<(String, bool, bool)>> = m
        .stacks
        .iter()
        .map(|(k, stack)| {
            let h = stack
                .iter()
                .enumerate()
                .map(|(i, v)| (v.id.clone(), v.data.is_none(), i == 0))
                .collect();
            (k.to_string(), h)
        })
        .collect();
    // Within a key, the server lists versions and markers newest first in one order; the SDK
    // hands them back as two lists, so compare each key's versions and markers apart, in order.
    let split = |h: &BTreeMap<String, Vec<(String, bool, bool)>>| {
        h.iter()
            .map(|(k, v)| {
                let (markers, versions): (Vec<_>, Vec<_>) = v.iter().cloned().partition(|e| e.1);
                (k.clone(), versions, markers)
            })
            .collect::<Vec<_>>()
    };
    if split(&got) != split(&want) {
        return Err(format!("versions listed {got:?}\nmodel {want:?}"));
    }
    for (key, stack) in &m.stacks {
        for v in stack {
            let r = s
                .client
                .get_object()
                .bucket(bucket)
                .key(*key)
                .version_id(&v.id)
                .send()
                .await;
            match (&v.data, r) {
                (Some(data), Ok(out)) => {
                    if &body_of(out).await != data {
                        return Err(format!("{key}@{}: other bytes", v.id));
                    }
                }
                (None, Err(e)) if status_and_code(&e).0 == 405 => {}
                (_, Err(e)) => return Err(format!("{key}@{}: {}", v.id, describe(&e))),
                (None, Ok(_)) => return Err(format!("{key}@{}: a marker read as data", v.id)),
            }
        }
    }
    let mut current = Vec::new();
    for key in KEYS {
        let top = m.stacks.get(key).and_then(|s| s.first());
        let r = s.client.get_object().bucket(bucket).key(key).send().await;
        match (top.and_then(|v| v.data.as_ref()), r) {
            (Some(data), Ok(out)) => {
                if &body_of(out).await != data {
                    return Err(format!("{key}: other bytes"));
                }
                current.push(key.to_string());
            }
            (None, Err(e)) if status_and_code(&e) == (404, "NoSuchKey".into()) => {}
            (_, Err(e)) => return Err(format!("GET {key}: {}", describe(&e))),
            (None, Ok(_)) => return Err(format!("GET {key}: found, the model has none")),
        }
    }
    current.sort();
    let listed = s
        .client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let listed: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    if listed != current {
        return Err(format!("listed {listed:?}, current {current:?}"));
    }
    Ok(())
}

#[test]
fn versions_match_the_model() {
    run_model("", 40, |_| {});
}

/// Through the write cache, uploading 50 ms after a write: each step meets versions waiting in
/// the cache, being uploaded, or on the remote.
#[test]
fn versions_match_the_model_through_the_write_cache() {
    run_model(" through the write cache", 24, |c| {
        c.vfs.cache_mode = s3gate_config::CacheMode::Writes;
        c.vfs.write_back = std::time::Duration::from_millis(50);
    });
}

/// Runs `cases` random plans on one server started with `tweak`, checking each against the
/// model; `how` says which server in the summary.
fn run_model(how: &str, cases: u32, tweak: impl FnOnce(&mut s3gate_config::Config)) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(TestServer::start_with(tweak));
    let cases_run = AtomicUsize::new(0);
    let steps = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(step(), 1..30), |plan| {
        let bucket = format!("model-{}", cases_run.fetch_add(1, Ordering::Relaxed));
        rt.block_on(async {
            s.create_bucket(&bucket).await;
            let mut m = Model::default();
            for (n, st) in plan.iter().enumerate() {
                steps.fetch_add(1, Ordering::Relaxed);
                apply(&s, &bucket, &mut m, st, n)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("step {n} {st:?}: {e}")))?;
                if n % 8 == 7 {
                    check(&s, &bucket, &m)
                        .await
                        .map_err(|e| TestCaseError::fail(format!("after step {n}: {e}")))?;
                }
            }
            check(&s, &bucket, &m).await.map_err(TestCaseError::fail)
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "version model{how}: {} plans, {} steps, every history as the model says",
        cases_run.load(Ordering::Relaxed),
        steps.load(Ordering::Relaxed)
    );
}
