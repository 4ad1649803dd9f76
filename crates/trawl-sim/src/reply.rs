//! What a handler answers, before the fault layer and actix see it.
//!
//! Handlers are plain functions from a request to a [`Reply`], which keeps them easy to
//! read and test; turning a reply into an HTTP response (possibly slowed, truncated or
//! cut off) happens in one place, `FaultBox::respond`.

use serde_json::Value;

#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// A data page: malformed-body and slow-body faults may apply to it.
    pub data_page: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Http(Resp),
    /// Close the connection without a complete answer.
    Dropped {
        partial: Vec<u8>,
    },
}

impl Resp {
    pub fn json(status: u16, body: &Value) -> Resp {
        Resp {
            status,
            content_type: "application/json;charset=UTF-8",
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
            data_page: false,
        }
    }

    pub fn text(status: u16, content_type: &'static str, body: &str) -> Resp {
        Resp {
            status,
            content_type,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            data_page: false,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Resp {
        self.headers.push((name, value.into()));
        self
    }

    pub fn data_page(mut self) -> Resp {
        self.data_page = true;
        self
    }
}

impl From<Resp> for Reply {
    fn from(r: Resp) -> Reply {
        Reply::Http(r)
    }
}
