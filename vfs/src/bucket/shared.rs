//! In a fleet (`--fleet`) a bucket's record, its configuration (CORS, tags, ACL and ownership
//! controls, lifecycle, policy, public access block), lives on the remote as well as in each
//! gateway's index: one JSON object per bucket, `.s3gate/buckets/NAME`, which every gateway
//! reads back before it answers from its own copy, at most a second after it last did
//! ([`Recent`](crate::fleet::Recent)), and which a change writes pinned to the version it was made on, so that
//! two gateways changing one bucket at once never lose each other's change: the second finds
//! the record changed under it and is made again on what is there, as S3 applies two changes of
//! one bucket one after the other. Only a change that keeps losing to others, [`CHANGE_TRIES`]
//! times, is refused (`OperationAborted`, to be tried again, as S3 answers conflicting bucket
//! changes).

use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;

use super::record::{decode, put_record, BucketRecord};
use crate::error::{Result, VfsError};
use crate::remote::{Fingerprint, StoreCond};
use crate::vfs::Vfs;

/// How often a read of a bucket's record is made again when the record changed under it.
const READ_TRIES: usize = 4;

/// How often a change of a bucket's record is made again on the record another gateway's
/// change left: with two gateways racing, the second try is made on the winner's record.
const CHANGE_TRIES: usize = 8;

/// Where a bucket's record lives on the remote.
fn shared_path(name: &str) -> String {
    format!("{}/buckets/{name}", crate::key::RESERVED_DIR)
}

impl Vfs {
    /// In a fleet, the index's record of bucket `name` brought in line with the remote's,
    /// unless that was done less than a second ago. A bucket the remote holds no record of
    /// (made before `--fleet`, or by another program) keeps the index's.
    pub(crate) async fn refresh_shared_record(&self, name: &str) -> Result<()> {
        let Some(fleet) = &self.fleet else {
            return Ok(());
        };
        if fleet.buckets.fresh(name) {
            return Ok(());
        }
        // Taken before the remote is read: what it shows is at least this recent.
        let read_from = Instant::now();
        if let Some((record, _)) = self.read_shared_record(name).await? {
            let kept = self.core.bucket_record(name)?;
            if kept.as_deref() != Some(&record) {
                self.core
                    .index
                    .apply(vec![put_record(name, &record)])
                    .await?;
                // Lifecycle rules another gateway set act here too, on the keys this
                // gateway's index knows, as on the gateway that set them.
                let rules = record.lifecycle.filter(|r| r.iter().any(|r| r.enabled));
                let before = kept.and_then(|k| k.lifecycle.clone());
                if let Some(rules) = rules.filter(|r| before.as_ref() != Some(r)) {
                    self.lifecycle.enter_bucket(name, &rules).await?;
                }
            }
        }
        fleet.buckets.note(name.to_string(), read_from);
        Ok(())
    }

    /// The remote's record of bucket `name` and the version it was read from, where there is
    /// one.
    async fn read_shared_record(&self, name: &str) -> Result<Option<(BucketRecord, Fingerprint)>> {
        let path = shared_path(name);
        let mut tries = 0;
        loop {
            let Some(reader) = self.core.remote.open(&path).await? else {
                return Ok(None);
            };
            let fp = reader.fingerprint();
            let mut body = Vec::with_capacity(fp.size as usize);
            let mut chunks = reader.stream(0, fp.size);
            let mut read = Ok(());
            while let Some(chunk) = chunks.next().await {
                match chunk {
                    Ok(c) => body.extend_from_slice(&c),
                    Err(e) => {
                        read = Err(e);
                        break;
                    }
                }
            }
            match read {
                Ok(()) => return Ok(Some((decode(&body)?, fp))),
                // Reads are pinned to the version opened: another gateway's change in between
                // fails this one, and the new version is read instead.
                Err(_) if tries < READ_TRIES => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// In a fleet, the record bucket `name` should have after `change`, made on the remote's
    /// record (or on `kept`, the index's, where the remote has none) and written to the remote
    /// while that is still the version there. Where another gateway's change came first,
    /// `change` is made again on its record: it may then refuse what it allowed before.
    pub(crate) async fn change_shared_record<T>(
        &self,
        name: &str,
        kept: BucketRecord,
        mut change: impl FnMut(&mut BucketRecord) -> Result<T>,
    ) -> Result<(BucketRecord, T)> {
        let mut tries = 1;
        loop {
            let (mut record, cond) = match self.read_shared_record(name).await? {
                Some((record, fp)) => (record, StoreCond::Is(fp)),
                None => (kept.clone(), StoreCond::Absent),
            };
            let out = change(&mut record)?;
            match self.write_shared_record(name, &record, Some(cond)).await {
                Err(VfsError::ConflictingChange(_)) if tries < CHANGE_TRIES => tries += 1,
                Err(e) => return Err(e),
                Ok(()) => return Ok((record, out)),
            }
        }
    }

    /// Writes bucket `name`'s record to the remote, only while `cond` holds where given.
    pub(crate) async fn write_shared_record(
        &self,
        name: &str,
        record: &BucketRecord,
        cond: Option<StoreCond>,
    ) -> Result<()> {
        let path = shared_path(name);
        let remote = &self.core.remote;
        let json = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        let mut upload = match cond {
            Some(cond) => remote.create_if(&path, None, cond).await,
            None => remote.create(&path).await,
        }
        .map_err(conflict)?;
        let written = async {
            upload.write(Bytes::from(json)).await?;
            upload.finish(self.core.fsync).await
        }
        .await;
        if let Err(e) = written {
            upload.abort().await;
            return Err(e.into());
        }
        upload
            .commit(&path, self.core.fsync, Box::new(|_| {}))
            .await
            .map_err(conflict)?;
        Ok(())
    }

    /// In a fleet, removes the remote's record of a bucket that was deleted.
    pub(crate) async fn forget_shared_record(&self, name: &str) -> Result<()> {
        if self.fleet.is_some() {
            self.core.remote.delete(&shared_path(name), None).await?;
        }
        Ok(())
    }
}

/// A pinned write of a bucket's record the remote refused: another gateway changed the bucket
/// meanwhile.
fn conflict(e: std::io::Error) -> VfsError {
    if e.raw_os_error() == Some(libc::ESTALE) || e.kind() == std::io::ErrorKind::AlreadyExists {
        VfsError::ConflictingChange(
            "another gateway changed this bucket's configuration at the same time; try again"
                .into(),
        )
    } else {
        e.into()
    }
}
