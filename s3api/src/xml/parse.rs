//! Request bodies parsed with quick-xml into the few shapes S3 accepts; what does not parse
//! is `MalformedXML`.

use s3gate_vfs::Versioning;

use crate::error::{S3Error, S3Result};

/// A parsed request document: element names (without namespace) and their text.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) children: Vec<Node>,
}

impl Node {
    pub(crate) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// The deepest nesting any request document of S3 has, with room to spare.
const MAX_DEPTH: usize = 8;

pub(crate) fn malformed(why: &str) -> S3Error {
    S3Error::malformed_xml(format!(
        "The XML you provided was not well-formed or did not validate against our published schema: {why}"
    ))
}

/// Parses a request body (already bounded in size by the caller) whose root must be `root`.
pub(crate) fn parse(body: &[u8], root: &str) -> S3Result<Node> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut stack: Vec<Node> = Vec::new();
    let mut done: Option<Node> = None;
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| malformed(&e.to_string()))?;
        match event {
            Event::Start(e) | Event::Empty(e) if done.is_some() => {
                let _ = e;
                return Err(malformed("content after the root element"));
            }
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed("nested too deeply"));
                }
                stack.push(Node {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                });
            }
            Event::Empty(e) => {
                let node = Node {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => done = Some(node),
                }
            }
            Event::Text(t) => {
                if let Some(n) = stack.last_mut() {
                    n.text
                        .push_str(&t.xml_content().map_err(|e| malformed(&e.to_string()))?);
                }
            }
            Event::CData(c) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&String::from_utf8_lossy(&c.into_inner()));
                }
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| malformed(&e.to_string()))?;
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| malformed("unknown entity"))?
                        .to_string(),
                };
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&resolved);
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(|| malformed("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => done = Some(node),
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    match done {
        Some(n) if stack.is_empty() && n.name == root => Ok(n),
        Some(_) if stack.is_empty() => Err(malformed(&format!("the root element must be {root}"))),
        _ => Err(malformed("incomplete document")),
    }
}

/// The body of DeleteObjects.
#[derive(Debug, Default)]
pub(crate) struct DeleteRequest {
    pub(crate) quiet: bool,
    pub(crate) objects: Vec<DeleteTarget>,
}

/// One `<Object>` of DeleteObjects.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DeleteTarget {
    pub(crate) key: String,
    /// `<ETag>`: delete only that version (as `If-Match` on DeleteObject).
    pub(crate) etag: Option<String>,
    /// `<VersionId>`: remove that version for good.
    pub(crate) version_id: Option<String>,
}

/// The most keys one DeleteObjects may name.
const MAX_DELETE_KEYS: usize = 1000;

pub(crate) fn parse_delete(body: &[u8]) -> S3Result<DeleteRequest> {
    let doc = parse(body, "Delete")?;
    let quiet = doc.child("Quiet").is_some_and(|q| q.text.trim() == "true");
    let objects = doc
        .all("Object")
        .map(|o| match o.child("Key") {
            Some(k) if !k.text.is_empty() => Ok(DeleteTarget {
                key: k.text.clone(),
                etag: o.child("ETag").map(|e| e.text.trim().to_string()),
                version_id: o.child("VersionId").map(|e| e.text.trim().to_string()),
            }),
            _ => Err(malformed("an Object without a Key")),
        })
        .collect::<S3Result<Vec<_>>>()?;
    if objects.is_empty() {
        return Err(malformed("no Object to delete"));
    }
    if objects.len() > MAX_DELETE_KEYS {
        return Err(malformed("more than 1000 keys"));
    }
    Ok(DeleteRequest { quiet, objects })
}

/// The tag set of PutObjectTagging and PutBucketTagging, as sent (checked by the caller):
/// `<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag>...</TagSet></Tagging>`.
pub(crate) fn parse_tagging(body: &[u8]) -> S3Result<Vec<(String, String)>> {
    let doc = parse(body, "Tagging")?;
    let set = doc.child("TagSet").ok_or_else(|| malformed("no TagSet"))?;
    set.all("Tag")
        .map(|t| match (t.child("Key"), t.child("Value")) {
            (Some(k), Some(v)) => Ok((k.text.clone(), v.text.clone())),
            _ => Err(malformed("a Tag needs a Key and a Value")),
        })
        .collect()
}

/// The state a PutBucketVersioning document asks for: `None` when it names no `Status`, which
/// leaves the state as it is. `MfaDelete` may be `Disabled` (nothing to change, as no bucket
/// here has it); MFA delete itself needs a device this server has no way to check.
pub(crate) fn parse_versioning(body: &[u8]) -> S3Result<Option<Versioning>> {
    let doc = parse(body, "VersioningConfiguration")?;
    match doc.child("MfaDelete").map(|m| m.text.as_str()) {
        None | Some("Disabled") => {}
        Some("Enabled") => {
            return Err(S3Error::not_implemented(
                "MFA delete is not supported: this server has no way to check an MFA device",
            ))
        }
        Some(_) => return Err(malformed("MfaDelete must be Enabled or Disabled")),
    }
    match doc.child("Status").map(|s| s.text.as_str()) {
        None => Ok(None),
        Some("Enabled") => Ok(Some(Versioning::Enabled)),
        Some("Suspended") => Ok(Some(Versioning::Suspended)),
        Some(_) => Err(malformed("Status must be Enabled or Suspended")),
    }
}

/// The body of CompleteMultipartUpload: part numbers with the ETags the client got.
/// One `<Part>` of a CompleteMultipartUpload request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CompletedPart {
    pub(crate) number: u32,
    pub(crate) etag: String,
    /// `ChecksumCRC32` and the like: (algorithm name, value).
    pub(crate) checksums: Vec<(String, String)>,
}

pub(crate) fn parse_complete(body: &[u8]) -> S3Result<Vec<CompletedPart>> {
    let doc = parse(body, "CompleteMultipartUpload")?;
    let parts = doc
        .all("Part")
        .map(|p| {
            let number = p
                .child("PartNumber")
                .and_then(|n| n.text.trim().parse::<u32>().ok())
                .ok_or_else(|| malformed("a Part without a valid PartNumber"))?;
            let etag = p
                .child("ETag")
                .map(|e| e.text.trim().trim_matches('"').to_string())
                .ok_or_else(|| malformed("a Part without an ETag"))?;
            let checksums = p
                .children
                .iter()
                .filter_map(|c| {
                    let algo = c.name.strip_prefix("Checksum")?;
                    (!algo.is_empty() && algo != "Type")
                        .then(|| (algo.to_string(), c.text.trim().to_string()))
                })
                .collect();
            Ok(CompletedPart {
                number,
                etag,
                checksums,
            })
        })
        .collect::<S3Result<Vec<_>>>()?;
    if parts.is_empty() {
        return Err(malformed("no Part listed"));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioning_body() {
        let doc = |inner: &str| {
            format!(
                r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{inner}</VersioningConfiguration>"#
            )
        };
        let status = |inner: &str| parse_versioning(doc(inner).as_bytes());
        assert_eq!(
            status("<Status>Enabled</Status>").unwrap(),
            Some(Versioning::Enabled)
        );
        assert_eq!(
            status("<Status>Suspended</Status><MfaDelete>Disabled</MfaDelete>").unwrap(),
            Some(Versioning::Suspended)
        );
        assert_eq!(status("").unwrap(), None);
        // Without the namespace, as some clients send it.
        assert_eq!(
            parse_versioning(
                b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
            )
            .unwrap(),
            Some(Versioning::Enabled)
        );
        for bad in [
            "<Status>enabled</Status>",
            "<Status></Status>",
            "<Status>Enabled</Status><MfaDelete>maybe</MfaDelete>",
        ] {
            assert_eq!(status(bad).unwrap_err().code, "MalformedXML", "{bad}");
        }
        assert_eq!(
            parse_versioning(b"<Versioning><Status>Enabled</Status></Versioning>")
                .unwrap_err()
                .code,
            "MalformedXML"
        );
        assert_eq!(
            status("<Status>Enabled</Status><MfaDelete>Enabled</MfaDelete>")
                .unwrap_err()
                .code,
            "NotImplemented"
        );
    }

    #[test]
    fn delete_body() {
        let r = parse_delete(
            br#"<?xml version="1.0"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>c&#x1;d</Key><VersionId>null</VersionId></Object></Delete>"#,
        )
        .unwrap();
        assert!(r.quiet);
        let target = |key: &str, etag: Option<&str>| DeleteTarget {
            key: key.to_string(),
            etag: etag.map(str::to_string),
            version_id: None,
        };
        let versioned = DeleteTarget {
            version_id: Some("null".into()),
            ..target("c\u{1}d", None)
        };
        assert_eq!(r.objects, vec![target("a&b", None), versioned]);
        let r = parse_delete(br#"<Delete><Object><Key>k</Key><ETag>"e1"</ETag></Object></Delete>"#)
            .unwrap();
        assert_eq!(r.objects, vec![target("k", Some("\"e1\""))]);
        for bad in [
            &b"<Delete>"[..],
            b"<Other/>",
            b"<Delete></Delete>",
            b"not xml <",
        ] {
            assert!(
                parse_delete(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn complete_body() {
        let parts = parse_complete(
            br#"<CompleteMultipartUpload><Part><ETag>"a"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>3</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32><ETag>&quot;b&quot;</ETag></Part></CompleteMultipartUpload>"#,
        )
        .unwrap();
        let part = |number, etag: &str, checksums: Vec<(String, String)>| CompletedPart {
            number,
            etag: etag.to_string(),
            checksums,
        };
        assert_eq!(
            parts,
            vec![
                part(1, "a", vec![]),
                part(3, "b", vec![("CRC32".into(), "AAAAAA==".into())])
            ]
        );
        assert!(parse_complete(b"<CompleteMultipartUpload/>").is_err());
        assert!(parse_complete(b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>").is_err());
        let deep = "<a>".repeat(50);
        assert!(parse(deep.as_bytes(), "a").is_err());
    }

    #[test]
    fn tagging_body() {
        let tags = parse_tagging(
            br#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>b</Key><Value>x &amp; y</Value></Tag><Tag><Key>a</Key><Value/></Tag></TagSet></Tagging>"#,
        )
        .unwrap();
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(tags, vec![pair("b", "x & y"), pair("a", "")]);
        assert_eq!(
            parse_tagging(b"<Tagging><TagSet/></Tagging>").unwrap(),
            vec![]
        );
        for bad in [
            &b"<Tagging/>"[..],
            b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
            b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
            b"<TagSet></TagSet>",
            b"<Tagging><TagSet>",
        ] {
            assert_eq!(
                parse_tagging(bad).unwrap_err().code,
                "MalformedXML",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, failure_persistence: None, ..Default::default() })]

        /// Arbitrary bytes, and valid documents with bytes changed: an answer or a refusal,
        /// never a panic.
        #[test]
        fn the_body_parsers_survive_any_input(
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            flips in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 0..6),
        ) {
            let _ = parse_delete(&raw);
            let _ = parse_complete(&raw);
            let _ = parse_tagging(&raw);
            let mut doc = br#"<?xml version="1.0"?><CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload><Delete><Object><Key>k</Key></Object></Delete>"#.to_vec();
            for (at, b) in flips {
                let i = at % doc.len();
                doc[i] = b;
            }
            let _ = parse_complete(&doc);
            let _ = parse_delete(&doc);
        }
    }
}
