//! Tags and ACLs changed in place. An object's tag set and ACL are part of its record
//! ([`ObjectAttrs`]): set with the object (PUT, copy, Complete), gone with it, and replaced whole
//! by [`Vfs::set_object_tags`] and [`Vfs::set_object_acl`]. Such a change is no new version of
//! the object: its file, ETag and Last-Modified stay as they are, and only the record changes,
//! through the commit point, under the key's lock, so that the change lands on the object there
//! at that moment and never on a record that a publish running alongside is about to replace.
//!
//! [`ObjectAttrs`]: crate::index::ObjectAttrs

use crate::acl::Acl;
use crate::commit::{At, Change};
use crate::error::{Result, VfsError};
use crate::index::ObjectAttrs;
use crate::key;
use crate::version_id::VersionRef;
use crate::vfs::Vfs;

/// One of the object's attributes that change without a new version.
#[derive(Clone)]
enum Attr {
    Tags(Vec<(String, String)>),
    Acl(Option<Acl>),
}

impl Attr {
    fn onto(self, attrs: &mut ObjectAttrs) {
        match self {
            Attr::Tags(tags) => attrs.tags = tags,
            Attr::Acl(acl) => attrs.acl = acl,
        }
    }
}

/// The change of an attribute of the current version, or of the version a client names
/// (`versionId`), whose row in the version store changes instead.
struct Restamp {
    attr: Attr,
    version: Option<VersionRef>,
}

impl Change<Vfs> for Restamp {
    type Done = ();

    async fn apply(self, vfs: &Vfs, at: At<'_>) -> Result<()> {
        let attr = self.attr;
        // In a fleet the object carries its tags and ACL on the store (envelope.rs); a folder
        // marker is a record of one gateway only.
        if vfs.fleet.is_some() && self.version.is_none() && !at.key.ends_with('/') {
            return vfs
                .restamp_carried(at, |attrs| attr.clone().onto(attrs))
                .await;
        }
        // A folder marker is its record, as long as its folder is there (`current_locked`),
        // with versions like any object's.
        vfs.edit_version(at, self.version, |attrs| {
            attr.onto(attrs);
            Ok(())
        })
        .await?;
        // In a fleet a marker's attributes are kept on the remote too (`sidecar.rs`).
        if vfs.fleet.is_some() && self.version.is_none() && at.is_marker() {
            if let Some(meta) = vfs.core.index.get(at.bucket, at.key)? {
                vfs.write_marker_carried(at.bucket, at.key, &meta.attrs)
                    .await?;
            }
        }
        Ok(())
    }

    async fn abandon(self) {}
}

impl Vfs {
    /// Replaces the tag set of the object at `key` (of its version `version`, current or
    /// kept; the current one when `None`), leaving its content, ETag and Last-Modified as
    /// they are. An empty set removes its tags.
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> Result<()> {
        self.restamp(bucket, key, version, Attr::Tags(tags)).await
    }

    /// Replaces the ACL of the object at `key` (none: its owner's full control only), of its
    /// current version or of the one named, leaving its content, ETag and Last-Modified as
    /// they are.
    pub async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        acl: Option<Acl>,
    ) -> Result<()> {
        self.restamp(bucket, key, version, Attr::Acl(acl)).await
    }

    async fn restamp(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        attr: Attr,
    ) -> Result<()> {
        let version = version
            .map(|v| VersionRef::parse(v).ok_or_else(|| VfsError::InvalidVersion(v.into())))
            .transpose()?;
        self.head_bucket(bucket).await?;
        // As when reading: a key that can name no object (nor marker) is simply absent.
        let path = match self.core.path_of(bucket, key)? {
            Some(p) => p,
            None => match key::marker_path(bucket, key) {
                Some(Ok(p)) => p,
                _ => return Err(VfsError::NoSuchKey),
            },
        };
        let at = At {
            bucket,
            key,
            path: &path,
        };
        self.commit(at, None, Restamp { attr, version }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    async fn put(vfs: &Vfs, key: &str, body: &'static [u8]) -> crate::object::ObjectInfo {
        vfs.put_test(key, body, Default::default()).await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn retagging_keeps_the_version_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        let before = put(&vfs, "a/b", b"content").await;
        let file = std::fs::metadata(dir.path().join("bkt/a/b")).unwrap();
        vfs.set_object_tags("bkt", "a/b", None, tags(&[("k", "v")]))
            .await
            .unwrap();
        let after = vfs.head_object("bkt", "a/b").await.unwrap();
        assert_eq!(after.attrs.tags, tags(&[("k", "v")]));
        assert_eq!(after.etag, before.etag);
        assert_eq!(after.last_modified, before.last_modified);
        let again = std::fs::metadata(dir.path().join("bkt/a/b")).unwrap();
        assert_eq!(again.modified().unwrap(), file.modified().unwrap());
        vfs.shutdown().await;
        drop(vfs);
        let vfs = Vfs::open_unsynced(dir.path()).await;
        let reopened = vfs.head_object("bkt", "a/b").await.unwrap();
        assert_eq!(reopened.attrs.tags, tags(&[("k", "v")]));
        vfs.set_object_tags("bkt", "a/b", None, Vec::new())
            .await
            .unwrap();
        assert!(vfs
            .head_object("bkt", "a/b")
            .await
            .unwrap()
            .attrs
            .tags
            .is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_an_object_that_is_there_takes_tags() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        let t = || tags(&[("k", "v")]);
        for key in ["nope", "dir/", "a//b", "../x"] {
            assert!(
                matches!(
                    vfs.set_object_tags("bkt", key, None, t()).await,
                    Err(VfsError::NoSuchKey)
                ),
                "{key}"
            );
        }
        assert!(matches!(
            vfs.set_object_tags("nobkt", "k", None, t()).await,
            Err(VfsError::NoSuchBucket)
        ));
        // A folder marker is an object like any other.
        vfs.create_folder("bkt", "dir/", Default::default(), None)
            .await
            .unwrap();
        vfs.set_object_tags("bkt", "dir/", None, t()).await.unwrap();
        assert_eq!(
            vfs.head_object("bkt", "dir/").await.unwrap().attrs.tags,
            t()
        );
    }
}
