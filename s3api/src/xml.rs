//! XML in and out. Responses are written with a small builder (they are flat and known);
//! request bodies are parsed with quick-xml into the few shapes S3 accepts.

use std::fmt::Write;
use std::time::SystemTime;

use crate::error::{S3Error, S3Result};

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

pub(crate) struct Xml {
    out: String,
    stack: Vec<&'static str>,
}

impl Xml {
    /// Starts a document whose root element is `root`, with S3's namespace when `ns`.
    pub(crate) fn document(root: &'static str, ns: bool) -> Xml {
        let mut out = String::with_capacity(512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(root);
        if ns {
            let _ = write!(out, " xmlns=\"{NS}\"");
        }
        out.push('>');
        Xml {
            out,
            stack: vec![root],
        }
    }

    pub(crate) fn open(&mut self, tag: &'static str) -> &mut Self {
        let _ = write!(self.out, "<{tag}>");
        self.stack.push(tag);
        self
    }

    pub(crate) fn close(&mut self) -> &mut Self {
        if let Some(tag) = self.stack.pop() {
            let _ = write!(self.out, "</{tag}>");
        }
        self
    }

    pub(crate) fn elem(&mut self, tag: &str, text: &str) -> &mut Self {
        let _ = write!(self.out, "<{tag}>");
        escape_into(&mut self.out, text);
        let _ = write!(self.out, "</{tag}>");
        self
    }

    /// Text directly inside the current element.
    pub(crate) fn raw_elem_text(&mut self, text: &str) -> &mut Self {
        escape_into(&mut self.out, text);
        self
    }

    /// Markup written as given (the caller escapes what it interpolates).
    pub(crate) fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    pub(crate) fn finish(mut self) -> String {
        while !self.stack.is_empty() {
            self.close();
        }
        self.out
    }
}

pub(crate) fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    escape_into(&mut s, text);
    s
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters cannot appear in XML 1.0 text, even escaped as entities: they
            // are written as character references that clients decode.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// S3's timestamp form in XML: `2009-10-12T17:50:30.000Z`.
pub(crate) fn timestamp(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.year(),
        dt.month() as u8,
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    )
}

/// The body of DeleteObjects.
#[derive(Debug, Default)]
pub(crate) struct DeleteRequest {
    pub(crate) quiet: bool,
    pub(crate) keys: Vec<String>,
}

/// The most keys one DeleteObjects may name.
const MAX_DELETE_KEYS: usize = 1000;

pub(crate) fn parse_delete(body: &[u8]) -> S3Result<DeleteRequest> {
    use quick_xml::events::Event;
    let malformed = |why: &str| {
        S3Error::malformed_xml(format!(
            "The XML you provided was not well-formed or did not validate against our published schema: {why}"
        ))
    };
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut req = DeleteRequest::default();
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut text = String::new();
    let mut buf = Vec::new();
    let mut saw_root = false;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_vec();
                if path.is_empty() {
                    if name != b"Delete" {
                        return Err(malformed("the root element must be Delete"));
                    }
                    saw_root = true;
                }
                path.push(name);
                text.clear();
            }
            Ok(Event::Empty(e)) => {
                // `<Key/>` is an empty key, which no object can have.
                if e.local_name().as_ref() == b"Key" {
                    return Err(malformed("empty Key"));
                }
            }
            Ok(Event::Text(t)) => {
                let s = t.xml_content().map_err(|e| malformed(&e.to_string()))?;
                text.push_str(&s);
            }
            Ok(Event::GeneralRef(r)) => {
                let name = r.decode().map_err(|e| malformed(&e.to_string()))?;
                match r.resolve_char_ref() {
                    Ok(Some(c)) => text.push(c),
                    _ => match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => text.push_str(s),
                        None => return Err(malformed("unknown entity")),
                    },
                }
            }
            Ok(Event::CData(c)) => {
                text.push_str(&String::from_utf8_lossy(&c.into_inner()));
            }
            Ok(Event::End(_)) => {
                let name = path.pop().unwrap_or_default();
                let parent = path.last().map(Vec::as_slice);
                match (name.as_slice(), parent) {
                    (b"Quiet", Some(b"Delete")) => req.quiet = text.trim() == "true",
                    (b"Key", Some(b"Object")) => {
                        req.keys.push(std::mem::take(&mut text));
                        if req.keys.len() > MAX_DELETE_KEYS {
                            return Err(malformed("more than 1000 keys"));
                        }
                    }
                    _ => {}
                }
                text.clear();
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(malformed(&e.to_string())),
        }
        buf.clear();
    }
    if !saw_root || !path.is_empty() {
        return Err(malformed("incomplete document"));
    }
    if req.keys.is_empty() {
        return Err(malformed("no Object to delete"));
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_body() {
        let r = parse_delete(
            br#"<?xml version="1.0"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>c&#x1;d</Key><VersionId>null</VersionId></Object></Delete>"#,
        )
        .unwrap();
        assert!(r.quiet);
        assert_eq!(r.keys, vec!["a&b".to_string(), "c\u{1}d".to_string()]);
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
    fn escaping() {
        let mut x = Xml::document("R", true);
        x.elem("K", "a<&>\"'\u{1}");
        assert!(x
            .finish()
            .ends_with("<K>a&lt;&amp;&gt;&quot;&apos;&#x1;</K></R>"));
    }

    #[test]
    fn timestamps() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_255_369_830_123);
        assert_eq!(timestamp(t), "2009-10-12T17:50:30.123Z");
    }
}
