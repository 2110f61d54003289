//! A tiny JSON writer (request bodies) and reader (cookie, mirror, outbox, collector
//! answers). Hand-written instead of serde_json to keep the wasm small.
//! The reader never panics: every index is checked, nesting depth is capped.
//! The writers append to any [`Out`]: a `String` (the full tracker), or the click module's
//! fixed buffer (no allocator there at all).

use alloc::string::String;
use alloc::vec::Vec;

/// Where the writers append text. A `String`, or a buffer that cannot grow (it records an
/// overflow instead; the click module then leaves the click to the full tracker).
pub trait Out {
    fn push_str(&mut self, s: &str);
    /// The last byte written (an [`Obj`]'s first member follows its `{`).
    fn last(&self) -> Option<u8>;
    fn push(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }
}

impl Out for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s)
    }
    fn push(&mut self, c: char) {
        String::push(self, c)
    }
    fn last(&self) -> Option<u8> {
        self.as_bytes().last().copied()
    }
}

/// What an [`Obj`] writes into: a `String` it owns, or a `&mut` to any [`Out`]. The writers
/// are called with the inner type either way (one copy of each in the wasm).
pub trait Sink {
    type Out: Out + ?Sized;
    fn out(&mut self) -> &mut Self::Out;
}

impl Sink for String {
    type Out = String;
    fn out(&mut self) -> &mut String {
        self
    }
}

impl<O: Out + ?Sized> Sink for &mut O {
    type Out = O;
    fn out(&mut self) -> &mut O {
        self
    }
}

/// Appends `s` as a JSON string literal (with quotes) to `out`.
pub fn push_str_lit(out: &mut (impl Out + ?Sized), s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str("\\u");
                push_hex4(out, c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_hex4(out: &mut (impl Out + ?Sized), v: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in [12u32, 8, 4, 0] {
        out.push(HEX[((v >> shift) & 15) as usize] as char);
    }
}

/// `parts` joined (a small loop instead of `[..].concat()`, whose generic join costs ~1 KB of wasm).
pub fn cat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// Appends the decimal digits of `n`.
pub fn push_u64(out: &mut (impl Out + ?Sized), mut n: u64) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    for d in digits.iter_mut() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    for d in digits.iter().take(len).rev() {
        out.push(*d as char);
    }
}

/// Builds one JSON object: `Obj::new().s("k", "v").end()` (a `String`), or
/// `Obj::on(&mut out)…end()` (appended to any [`Out`]).
pub struct Obj<O: Sink = String> {
    buf: O,
}

impl Default for Obj {
    fn default() -> Self {
        Self::new()
    }
}

impl Obj {
    pub fn new() -> Self {
        Obj::on(String::new())
    }
}

impl<O: Sink> Obj<O> {
    /// An object appended to `buf`.
    #[inline(always)]
    pub fn on(mut buf: O) -> Self {
        buf.out().push('{');
        Obj { buf }
    }
    fn key(&mut self, k: &str) {
        // a value never ends in `{`: only the object's own brace does
        if self.buf.out().last() != Some(b'{') {
            self.buf.out().push(',');
        }
        push_str_lit(self.buf.out(), k);
        self.buf.out().push(':');
    }
    /// A string member.
    pub fn s(mut self, k: &str, v: &str) -> Self {
        self.key(k);
        push_str_lit(self.buf.out(), v);
        self
    }
    /// A string member, only when `v` is `Some`.
    pub fn opt(self, k: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.s(k, v),
            None => self,
        }
    }
    /// A member whose value is already JSON text.
    pub fn raw(mut self, k: &str, json: &str) -> Self {
        self.key(k);
        self.buf.out().push_str(json);
        self
    }
    /// A member whose value `f` writes.
    #[inline(always)]
    pub fn with(mut self, k: &str, f: impl FnOnce(&mut O::Out)) -> Self {
        self.key(k);
        f(self.buf.out());
        self
    }
    pub fn n(mut self, k: &str, v: u64) -> Self {
        self.key(k);
        push_u64(self.buf.out(), v);
        self
    }
    pub fn end(mut self) -> O {
        self.buf.out().push('}');
        self.buf
    }
}

/// A JSON array of strings.
pub fn str_array(items: &[String]) -> String {
    let mut out = String::from("[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str_lit(&mut out, s);
    }
    out.push(']');
    out
}

/// A parsed JSON value. Numbers keep their source text (no float code in the wasm).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>),
}

impl Value {
    /// Member `k` of an object.
    pub fn get(&self, k: &str) -> Option<&Value> {
        match self {
            Value::Obj(m) => m.iter().find(|(key, _)| key == k).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Member `k` as a string.
    pub fn str_of(&self, k: &str) -> Option<&str> {
        self.get(k).and_then(Value::as_str)
    }
    /// A non-negative integer number (fraction/exponent rejected).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Num(t) => parse_u64(t),
            _ => None,
        }
    }
}

/// Decimal digits only, no overflow.
pub fn parse_u64(t: &str) -> Option<u64> {
    if t.is_empty() || t.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for b in t.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

const MAX_DEPTH: u32 = 16;

/// Parses a complete JSON document; `None` on any error.
pub fn parse(s: &str) -> Option<Value> {
    let mut p = Parser {
        b: s.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i == p.b.len() {
        Some(v)
    } else {
        None
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }
    fn lit(&mut self, word: &[u8], v: Value) -> Option<Value> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }
    fn value(&mut self, depth: u32) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                if self.eat(b'}').is_some() {
                    return Some(Value::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    let v = self.value(depth + 1)?;
                    m.push((k, v));
                    if self.eat(b',').is_none() {
                        self.eat(b'}')?;
                        return Some(Value::Obj(m));
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                if self.eat(b']').is_some() {
                    return Some(Value::Arr(a));
                }
                loop {
                    a.push(self.value(depth + 1)?);
                    if self.eat(b',').is_none() {
                        self.eat(b']')?;
                        return Some(Value::Arr(a));
                    }
                }
            }
            b'"' => self.string().map(Value::Str),
            b't' => self.lit(b"true", Value::Bool(true)),
            b'f' => self.lit(b"false", Value::Bool(false)),
            b'n' => self.lit(b"null", Value::Null),
            _ => self.number(),
        }
    }
    /// `[0-9]+` (at least one digit).
    fn digits(&mut self) -> Option<()> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        (self.i > start).then_some(())
    }
    /// RFC 8259 `number`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    /// (what serde_json accepts: no `-`, `01`, `1.`, `.5`, `+1`, `1e`).
    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits()?,
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digits()?;
        }
        let t = core::str::from_utf8(self.b.get(start..self.i)?).ok()?;
        Some(Value::Num(t.into()))
    }
    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = (self.peek()? as char).to_digit(16)?;
            v = v * 16 + d;
            self.i += 1;
        }
        Some(v)
    }
    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i..self.i + 2)? != b"\\u" {
                                    return None;
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                            } else {
                                char::from_u32(hi)?
                            }
                        }
                        _ => return None,
                    };
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                c if c < 0x20 => return None,
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn writes_escaped_objects() {
        let j = Obj::new()
            .s("a", "x\"y\\z\n\u{1}</script>")
            .n("n", 42)
            .opt("none", None)
            .raw("r", "[1]")
            .end();
        assert_eq!(j, r#"{"a":"x\"y\\z\n\u0001</script>","n":42,"r":[1]}"#);
        assert_eq!(
            parse(&j).unwrap().str_of("a"),
            Some("x\"y\\z\n\u{1}</script>")
        );
        assert_eq!(str_array(&["a".into(), "\"".into()]), r#"["a","\""]"#);
        let mut lit = String::new();
        push_str_lit(&mut lit, "é\u{2028}x\u{2029}\u{2027}😀\t\u{7f}");
        assert_eq!(lit, "\"é\\u2028x\\u2029\u{2027}😀\\u0009\u{7f}\"");
        assert_eq!(
            parse(&lit).unwrap().as_str(),
            Some("é\u{2028}x\u{2029}\u{2027}😀\t\u{7f}")
        );
        let mut s = String::new();
        push_u64(&mut s, 0);
        push_u64(&mut s, u64::MAX);
        assert_eq!(s, "018446744073709551615");
        assert_eq!(cat(&["a", "", "bc"]), "abc");
    }

    #[test]
    fn reads_values() {
        let v = parse(
            r#" {"cid":"abc","n":12,"e":{"code":"x"},"a":[true,false,null,"\u00e9\ud83d\ude00"]} "#,
        )
        .unwrap();
        assert_eq!(v.str_of("cid"), Some("abc"));
        assert_eq!(v.get("n").unwrap().as_u64(), Some(12));
        assert_eq!(v.get("e").unwrap().str_of("code"), Some("x"));
        assert_eq!(
            v.get("a"),
            Some(&Value::Arr(vec![
                Value::Bool(true),
                Value::Bool(false),
                Value::Null,
                Value::Str("é😀".into())
            ]))
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "[1,]",
            "\"\\x\"",
            "\"a",
            "{} x",
            "tru",
            "\"\u{1}\"",
            "\"\\ud800\"",
            "\"\\u12\"",
            "{\"a\":1,}",
            "nul",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(parse(&deep), None);
        let big = "\"".to_string() + &"x".repeat(10_000) + "\"";
        assert_eq!(parse(&big).unwrap().as_str().map(str::len), Some(10_000));
        assert_eq!(parse_u64("99999999999999999999"), None);
        assert_eq!(parse("1.5").unwrap().as_u64(), None);
    }
}
