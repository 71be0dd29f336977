//! The permission decision: may this caller do this operation on this bucket or object? One
//! function ([`decide`]), called once per request, before any body is read; everything it needs
//! to know of the resources it asks through [`Facts`], only when the answer depends on it (an
//! administrator's request reads nothing).

use std::sync::Arc;

use s3gate_config::User;
use s3gate_vfs::{Acl, BucketRecord, Grantee, Group, ObjectOwnership, Permission, Vfs, VfsError};

use crate::auth::Keys;
use crate::error::{S3Error, S3Result};
use crate::policy::Effect;
use crate::router::{Access, Op};

/// Who asks.
pub(crate) enum Caller {
    /// An `--auth-key` key, or anyone when no key is configured.
    Admin,
    /// A `[[users]]` key.
    User {
        key: String,
        id: String,
        user: Arc<User>,
    },
    /// An unsigned request while keys are configured: S3's "everyone".
    Anonymous,
}

impl Caller {
    pub(crate) fn of(keys: &Keys, access_key: Option<&str>) -> Caller {
        match access_key {
            _ if keys.anonymous() => Caller::Admin,
            None => Caller::Anonymous,
            Some(key) => match keys.user(key) {
                Some(user) => Caller::User {
                    key: key.to_string(),
                    id: keys.canonical_id(key),
                    user,
                },
                None => Caller::Admin,
            },
        }
    }

    /// Whether a grant to `grantee` is a grant to this caller.
    fn is(&self, grantee: &Grantee) -> bool {
        match (grantee, self) {
            (Grantee::Group(Group::AllUsers), _) => true,
            (Grantee::Group(Group::AuthenticatedUsers), Caller::User { .. }) => true,
            (Grantee::User(g), Caller::User { id, .. }) => g == id,
            _ => false,
        }
    }
}

/// What the decision may need to know of the resources a request names, read only when asked.
pub(crate) trait Facts {
    /// The record of a bucket (the route's, or a copy's source); `NoSuchBucket` if it is none.
    async fn bucket(&self, name: &str) -> S3Result<BucketRecord>;
    /// The ACL of an object (of the version named), `Ok(None)` when there is no such object
    /// (nor version): then what the caller may learn of the bucket decides.
    async fn object_acl(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> S3Result<Option<Option<Acl>>>;
}

/// [`Facts`] as the index tells them; the route's bucket record read once.
pub(crate) struct Index<'a> {
    vfs: &'a Vfs,
    route_bucket: &'a str,
    record: tokio::sync::OnceCell<BucketRecord>,
}

impl<'a> Index<'a> {
    pub(crate) fn new(vfs: &'a Vfs, route_bucket: &'a str) -> Index<'a> {
        Index {
            vfs,
            route_bucket,
            record: tokio::sync::OnceCell::new(),
        }
    }
}

impl Facts for Index<'_> {
    async fn bucket(&self, name: &str) -> S3Result<BucketRecord> {
        if name != self.route_bucket {
            return Ok(self.vfs.bucket(name).await?);
        }
        let record = self
            .record
            .get_or_try_init(|| self.vfs.bucket(self.route_bucket))
            .await?;
        Ok(record.clone())
    }

    async fn object_acl(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> S3Result<Option<Option<Acl>>> {
        let found = match version {
            Some(v) => self.vfs.open_version(bucket, key, v).await.map(|r| r.info),
            None => self.vfs.head_object(bucket, key).await,
        };
        match found {
            Ok(info) => Ok(Some(info.attrs.acl)),
            Err(
                VfsError::NoSuchKey
                | VfsError::NoSuchVersion
                | VfsError::VersionIsDeleteMarker
                | VfsError::InvalidKey(_),
            ) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// What an operation needs, on which resource.
enum Need<'a> {
    /// Nothing of a resource: its own checks do the rest (a preflight, a form upload, whose
    /// signer is known once its fields are read; ListBuckets, which lists what the caller may
    /// see).
    Nothing,
    /// Any caller who may make buckets.
    NewBucket,
    /// A permission on the bucket.
    Bucket(Permission),
    /// The bucket's owner (configuration, deleting it).
    BucketOwner,
    /// A permission on an object (its version), else on the bucket, to read.
    Object(Permission, Option<&'a str>),
}

fn need(op: &Op) -> Need<'_> {
    use Permission::*;
    match op {
        Op::CorsPreflight | Op::PostObject | Op::ListBuckets { .. } => Need::Nothing,
        Op::CreateBucket => Need::NewBucket,
        Op::DeleteBucket => Need::BucketOwner,
        Op::GetBucketAcl => Need::Bucket(ReadAcp),
        Op::PutBucketAcl => Need::Bucket(WriteAcp),
        Op::GetObjectAcl { version_id } => Need::Object(ReadAcp, version_id.as_deref()),
        Op::PutObjectAcl { version_id } => Need::Object(WriteAcp, version_id.as_deref()),
        Op::GetObject { version_id, .. }
        | Op::HeadObject { version_id, .. }
        | Op::GetObjectAttributes { version_id, .. }
        | Op::GetObjectTagging { version_id } => Need::Object(Read, version_id.as_deref()),
        // No ACL permission covers an object's lock in S3: its bucket's owner sets and reads it.
        Op::GetObjectRetention { .. }
        | Op::PutObjectRetention { .. }
        | Op::GetObjectLegalHold { .. }
        | Op::PutObjectLegalHold { .. } => Need::BucketOwner,
        _ => match op.access() {
            Access::Read => Need::Bucket(Read),
            Access::Write => Need::Bucket(Write),
            Access::Owner => Need::BucketOwner,
        },
    }
}

fn denied() -> S3Error {
    S3Error::access_denied("Access Denied")
}

/// Whether `acl` grants `caller` the permission `want` (FULL_CONTROL grants every one). A
/// public access block's `IgnorePublicAcls` (of `record`, the bucket's) leaves out the grants to
/// everyone and to every signed request.
fn grants(acl: Option<&Acl>, record: &BucketRecord, caller: &Caller, want: Permission) -> bool {
    let ignore_public = record
        .public_access_block
        .is_some_and(|b| b.ignore_public_acls);
    acl.is_some_and(|acl| {
        acl.grants.iter().any(|g| {
            (g.permission == want || g.permission == Permission::FullControl)
                && caller.is(&g.grantee)
                && !(ignore_public && g.grantee.is_public())
        })
    })
}

/// Whether the caller has the full use of a bucket: it owns it, or its `buckets` list names it.
fn full_use(caller: &Caller, bucket: &str, record: &BucketRecord) -> bool {
    match caller {
        Caller::Admin => true,
        // A user served from a root of its own owns every bucket there (it reaches no other).
        Caller::User { key, user, .. } => {
            user.root.is_some()
                || record.owner.as_deref() == Some(key.as_str())
                || user.buckets.is_some() && user.may_use(bucket)
        }
        Caller::Anonymous => false,
    }
}

/// The decision for a request: `Ok` to go on, else `AccessDenied` (or the error of reading
/// what it needed, such as `NoSuchBucket`). In order:
///
/// 1. `--read-only` refuses every change, to everyone.
/// 2. Administrators may do anything.
/// 3. A user's own limits are outer bounds nothing grants past: `read_only` refuses every
///    change, a `buckets` list every bucket it does not name (the route's and a copy's source).
/// 4. The bucket's owner, and a user whose `buckets` list names the bucket, may do anything with
///    the bucket and its objects, except that an object another account wrote under
///    `ObjectWriter` is that account's until its ACL grants otherwise.
/// 5. Otherwise the ACLs decide: READ lists a bucket or reads an object, WRITE writes and
///    deletes objects in a bucket, READ_ACP and WRITE_ACP read and change an ACL, FULL_CONTROL
///    is all of them. Reads of an object ask its ACL; writes ask the bucket's. With
///    `BucketOwnerEnforced` no ACL holds anything but the owner's full control, so this step
///    grants nothing there.
/// 6. Else `AccessDenied`.
///
/// The bucket's policy joins in between 3 and 4 with its verdict (`policy::verdict_of`): an
/// explicit Deny refuses whatever else would allow (administrators excepted); an Allow allows
/// as an ACL grant does (for a copy, the source's policy allowed it too); neither leaves the
/// decision to the owner and the ACLs.
pub(crate) async fn decide(
    read_only_server: bool,
    caller: &Caller,
    op: &Op,
    bucket: &str,
    key: &str,
    facts: &impl Facts,
    policy: Option<Effect>,
) -> S3Result<()> {
    if read_only_server && op.changes() {
        return Err(S3Error::access_denied(
            "Access Denied: this server is read-only",
        ));
    }
    let user = match caller {
        Caller::Admin => return Ok(()),
        Caller::User { user, .. } => Some(user),
        Caller::Anonymous => None,
    };
    let source = match op {
        Op::CopyObject { source } | Op::UploadPartCopy { source, .. } => Some(source),
        _ => None,
    };
    if let Some(user) = user {
        if user.read_only && op.changes() {
            return Err(S3Error::access_denied(
                "Access Denied: this user is read-only",
            ));
        }
        let names = [Some(bucket), source.map(|s| s.bucket.as_str())];
        if names
            .into_iter()
            .flatten()
            .any(|b| !b.is_empty() && !user.may_use(b))
        {
            return Err(denied());
        }
    }
    if matches!(op, Op::ListBuckets { .. }) && user.is_none() {
        return Err(denied());
    }
    match policy {
        Some(Effect::Deny) => return Err(denied()),
        Some(Effect::Allow) => return Ok(()),
        None => {}
    }
    let allowed = match need(op) {
        Need::Nothing => true,
        Need::NewBucket => user.is_some(),
        Need::BucketOwner => full_use(caller, bucket, &facts.bucket(bucket).await?),
        Need::Bucket(want) => {
            let record = facts.bucket(bucket).await?;
            full_use(caller, bucket, &record) || grants(record.acl.as_ref(), &record, caller, want)
        }
        Need::Object(want, version) => object(caller, bucket, key, want, version, facts).await?,
    };
    if !allowed {
        return Err(denied());
    }
    match source {
        Some(src) => {
            let read = Permission::Read;
            let v = src.version_id.as_deref();
            match object(caller, &src.bucket, &src.key, read, v, facts).await? {
                true => Ok(()),
                false => Err(denied()),
            }
        }
        None => Ok(()),
    }
}

/// May the caller do `want` with an object? Its owner may; the bucket's owner may unless
/// another account wrote it under `ObjectWriter`; else its ACL decides, unless the bucket's
/// ACLs are disabled (`BucketOwnerEnforced`). A missing object is answered by what the caller
/// may know of the bucket: `NoSuchKey` to those who may list it, `AccessDenied` to the others,
/// as S3.
async fn object(
    caller: &Caller,
    bucket: &str,
    key: &str,
    want: Permission,
    version: Option<&str>,
    facts: &impl Facts,
) -> S3Result<bool> {
    let record = facts.bucket(bucket).await?;
    // With ACLs disabled the bucket's owner has every object and no ACL grants anything, not
    // even what an object's ACL kept from before the bucket turned to BucketOwnerEnforced (its
    // own ACL can then only be the owner's).
    if record.ownership == ObjectOwnership::BucketOwnerEnforced {
        return Ok(full_use(caller, bucket, &record));
    }
    let Some(acl) = facts.object_acl(bucket, key, version).await? else {
        return Ok(full_use(caller, bucket, &record)
            || grants(record.acl.as_ref(), &record, caller, Permission::Read));
    };
    let written_by_another = match (&acl, caller) {
        (Some(acl), Caller::User { key, .. }) if acl.owner == *key => return Ok(true),
        (Some(acl), _) => record.owner.as_deref() != Some(acl.owner.as_str()),
        _ => false,
    };
    if !written_by_another && full_use(caller, bucket, &record) {
        return Ok(true);
    }
    Ok(grants(acl.as_ref(), &record, caller, want))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::CopySource;
    use s3gate_vfs::Grant;

    /// Buckets and objects held in memory: `alice` owns `pub` (public-read, ObjectWriter, with
    /// object `k` public-read and `mine` written by `bob`), `priv` (private) and `enf`
    /// (BucketOwnerEnforced, with `kept`, public-read from before ACLs were disabled).
    struct Fake;

    fn all_users(p: Permission) -> Grant {
        Grant {
            grantee: Grantee::Group(Group::AllUsers),
            permission: p,
        }
    }

    impl Facts for Fake {
        async fn bucket(&self, name: &str) -> S3Result<BucketRecord> {
            let mut r = BucketRecord {
                owner: Some("alice".into()),
                ..Default::default()
            };
            match name {
                "pub" => {
                    r.ownership = ObjectOwnership::ObjectWriter;
                    r.acl = Some(Acl {
                        owner: "alice".into(),
                        grants: vec![all_users(Permission::Read)],
                    });
                }
                "priv" => r.ownership = ObjectOwnership::ObjectWriter,
                "enf" => {}
                _ => return Err(S3Error::no_such_bucket("no such bucket")),
            }
            Ok(r)
        }

        async fn object_acl(
            &self,
            bucket: &str,
            key: &str,
            _: Option<&str>,
        ) -> S3Result<Option<Option<Acl>>> {
            Ok(match (bucket, key) {
                ("pub", "k") => Some(Some(Acl {
                    owner: "alice".into(),
                    grants: vec![all_users(Permission::Read)],
                })),
                ("pub" | "enf", "kept") => Some(Some(Acl {
                    owner: "alice".into(),
                    grants: vec![all_users(Permission::Read)],
                })),
                ("pub", "mine") => Some(Some(Acl {
                    owner: "bob".into(),
                    grants: Vec::new(),
                })),
                (_, "k") => Some(None),
                _ => None,
            })
        }
    }

    fn user(key: &str, buckets: Option<&[&str]>, read_only: bool) -> Caller {
        Caller::User {
            key: key.into(),
            id: format!("id-{key}"),
            user: Arc::new(User {
                access_key: key.into(),
                secret_key: "s".into(),
                display_name: None,
                canonical_id: None,
                email: None,
                read_only,
                buckets: buckets.map(|b| b.iter().map(|s| s.to_string()).collect()),
                root: None,
            }),
        }
    }

    fn get(v: Option<&str>) -> Op {
        Op::GetObject {
            version_id: v.map(str::to_string),
            part_number: None,
        }
    }

    /// A caller, an operation, its bucket and key, and the verdict expected.
    type Case<'a> = (&'a Caller, Op, &'a str, &'a str, Result<(), String>);

    async fn verdict(caller: &Caller, op: &Op, bucket: &str, key: &str) -> Result<(), String> {
        decide(false, caller, op, bucket, key, &Fake, None)
            .await
            .map_err(|e| e.code.to_string())
    }

    #[tokio::test]
    async fn owners_grants_and_limits_decide() {
        let alice = user("alice", None, false);
        let bob = user("bob", None, false);
        let listed = user("carol", Some(&["priv"]), false);
        let reader = user("rita", Some(&["pub", "priv"]), true);
        let anon = Caller::Anonymous;
        let list = Op::HeadBucket;
        let denied = || Err("AccessDenied".to_string());
        let cases: [Case; 20] = [
            (&alice, Op::PutObject, "priv", "x", Ok(())),
            (&alice, Op::DeleteBucket, "priv", "", Ok(())),
            (&bob, Op::PutObject, "priv", "x", denied()),
            (&bob, list.clone(), "pub", "", Ok(())),
            (&anon, list.clone(), "pub", "", Ok(())),
            (&anon, list.clone(), "priv", "", denied()),
            (&anon, get(None), "pub", "k", Ok(())),
            (&anon, Op::PutObject, "pub", "x", denied()),
            (&bob, Op::GetBucketAcl, "pub", "", denied()),
            // An object another account wrote is its own, even to the bucket's owner.
            (&alice, get(None), "pub", "mine", denied()),
            (&bob, get(None), "pub", "mine", Ok(())),
            // A `buckets` list: full use of what it names, nothing past it.
            (&listed, Op::PutObject, "priv", "x", Ok(())),
            (&listed, get(None), "pub", "k", denied()),
            (&reader, get(None), "priv", "k", Ok(())),
            (&reader, Op::PutObject, "priv", "x", denied()),
            (&anon, Op::CreateBucket, "new", "", denied()),
            (&Caller::Admin, Op::DeleteBucket, "enf", "", Ok(())),
            // ACLs disabled: what an object's ACL kept grants nothing; the owner has it all.
            (&anon, get(None), "pub", "kept", Ok(())),
            (&anon, get(None), "enf", "kept", denied()),
            (&alice, get(None), "enf", "kept", Ok(())),
        ];
        for (caller, op, bucket, key, want) in cases {
            let got = verdict(caller, &op, bucket, key).await;
            assert_eq!(got, want, "{} on {bucket}/{key}", op.name());
        }
    }

    #[tokio::test]
    async fn a_copy_reads_its_source_as_its_caller() {
        let bob = user("bob", None, false);
        let copy = |bucket: &str, key: &str| Op::CopyObject {
            source: CopySource {
                bucket: bucket.into(),
                key: key.into(),
                version_id: None,
            },
        };
        // Bob may write nowhere of Alice's; Alice may read `pub/k` into `priv`, not `pub/mine`.
        let alice = user("alice", None, false);
        assert_eq!(
            verdict(&alice, &copy("pub", "k"), "priv", "c").await,
            Ok(())
        );
        assert_eq!(
            verdict(&alice, &copy("pub", "mine"), "priv", "c").await,
            Err("AccessDenied".into())
        );
        assert_eq!(
            verdict(&bob, &copy("pub", "k"), "priv", "c").await,
            Err("AccessDenied".into())
        );
    }

    #[tokio::test]
    async fn the_read_only_server_refuses_every_change_first() {
        let r = decide(
            true,
            &Caller::Admin,
            &Op::PutObject,
            "priv",
            "k",
            &Fake,
            None,
        )
        .await;
        assert_eq!(r.map_err(|e| e.code), Err("AccessDenied"));
        let anon = Caller::Anonymous;
        let all = Op::ListBuckets {
            prefix: None,
            continuation_token: None,
            max_buckets: None,
            bucket_region: None,
        };
        assert_eq!(
            verdict(&anon, &all, "", "").await,
            Err("AccessDenied".into())
        );
        // A missing bucket is told as such before any grant is looked at.
        let e = verdict(&anon, &get(None), "nope", "k").await;
        assert_eq!(e, Err("NoSuchBucket".into()));
    }

    /// A bucket policy's Deny beats the owner's own rights, but never an administrator's or
    /// the limits of a user's key; its Allow reaches where no ACL grant does.
    #[tokio::test]
    async fn a_bucket_policys_verdict_comes_after_the_limits_and_before_the_owner() {
        let alice = user("alice", None, false);
        let reader = user("rita", Some(&["pub", "priv"]), true);
        let anon = Caller::Anonymous;
        let with = |caller, op, policy| async move {
            decide(false, caller, &op, "priv", "k", &Fake, policy)
                .await
                .map_err(|e| e.code)
        };
        let (deny, allow) = (Some(Effect::Deny), Some(Effect::Allow));
        assert_eq!(with(&alice, get(None), None).await, Ok(()));
        assert_eq!(with(&alice, get(None), deny).await, Err("AccessDenied"));
        assert_eq!(with(&Caller::Admin, get(None), deny).await, Ok(()));
        assert_eq!(with(&anon, get(None), None).await, Err("AccessDenied"));
        assert_eq!(with(&anon, get(None), allow).await, Ok(()));
        assert_eq!(
            with(&reader, Op::PutObject, allow).await,
            Err("AccessDenied")
        );
    }
}
