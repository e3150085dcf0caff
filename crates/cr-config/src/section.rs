//! One part of the file deserialized on its own, by the crate that owns its schema, with
//! errors that still name the line and the key.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a path: a table key or an index into an array (of tables).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `a.b[2].c` as steps.
pub(crate) fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let name_end = part.find('[').unwrap_or(part.len());
        if name_end > 0 {
            out.push(Step::Key(&part[..name_end]));
        }
        let mut rest = &part[name_end..];
        while let Some(stripped) = rest.strip_prefix('[') {
            let close = stripped.find(']').unwrap_or(stripped.len());
            if let Ok(i) = stripped[..close].parse() {
                out.push(Step::Index(i));
            }
            rest = stripped.get(close + 1..).unwrap_or("");
        }
    }
    out
}

/// Deserializes the value at `path` as `T`, skipping everything else; `None` when the
/// path is not in the document.
pub(crate) struct Pick<'p, T> {
    pub(crate) path: &'p [Step<'p>],
    pub(crate) out: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Pick<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        match self.path.first() {
            None => T::deserialize(d).map(Some),
            Some(Step::Key(_)) => d.deserialize_map(self),
            Some(Step::Index(_)) => d.deserialize_seq(self),
        }
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Pick<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.path.first() {
            Some(Step::Index(_)) => "an array",
            _ => "a table",
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let (Some(Step::Key(want)), rest) = (self.path.first(), self.path.get(1..).unwrap_or(&[])) else {
            return Ok(None);
        };
        let mut out = None;
        while let Some(k) = map.next_key::<String>()? {
            if k == *want {
                out = map.next_value_seed(Pick::<T> { path: rest, out: PhantomData })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
        let (Some(Step::Index(want)), rest) = (self.path.first(), self.path.get(1..).unwrap_or(&[])) else {
            return Ok(None);
        };
        let mut out = None;
        let mut i = 0;
        loop {
            if i == *want {
                match seq.next_element_seed(Pick::<T> { path: rest, out: PhantomData })? {
                    Some(v) => out = v,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(out)
    }
}

/// The field names of a struct that derives `Deserialize`, as serde knows them (renames
/// applied): what a schema accepts, without writing the list a second time.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe(Option<&'static [&'static str]>);
    #[derive(Debug)]
    struct Stop;
    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field names probed")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> de::Deserializer<'de> for &mut Probe {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut probe = Probe(None);
    let _ = T::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct S {
        a: u8,
        #[serde(rename = "bee")]
        b: Option<String>,
    }

    #[test]
    fn field_names_are_serdes() {
        assert_eq!(field_names::<S>(), ["a", "bee"]);
    }

    #[test]
    fn steps_of_a_dotted_path() {
        let s = steps("t[2].x.y[0]");
        assert_eq!(format!("{s:?}"), r#"[Key("t"), Index(2), Key("x"), Key("y"), Index(0)]"#);
    }
}
