//! An ITF expression back to any `Deserialize` type: the inverse of
//! [`super::ser`], guided by the type (an ITF option and a Quint sum type
//! look alike; the type says which one is meant).

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde_json::{Error, Value as Json};

/// Reads `value`, an ITF expression, as a `T`.
pub fn from_itf_value<T: DeserializeOwned>(value: Json) -> Result<T, Error> {
    T::deserialize(De(value))
}

struct De(Json);

fn err<T>(msg: impl std::fmt::Display) -> Result<T, Error> {
    Err(de::Error::custom(msg))
}

/// The `tag` and `value` of a Quint variant.
fn variant(v: Json) -> Result<(String, Json), Error> {
    match v {
        Json::Object(mut o) if o.len() == 2 => match (o.remove("tag"), o.remove("value")) {
            (Some(Json::String(tag)), Some(value)) => Ok((tag, value)),
            _ => err("expected a variant { \"tag\": ..., \"value\": ... }"),
        },
        other => err(format!("expected a variant {{ \"tag\": ..., \"value\": ... }}, found {other}")),
    }
}

/// The elements of a list, `#tup` or `#set`.
fn elements(v: Json) -> Result<Vec<Json>, Error> {
    match v {
        Json::Array(a) => Ok(a),
        Json::Object(mut o) if o.len() == 1 => match o.remove("#tup").or_else(|| o.remove("#set")) {
            Some(Json::Array(a)) => Ok(a),
            _ => err("expected a list, #tup or #set"),
        },
        other => err(format!("expected a list, #tup or #set, found {other}")),
    }
}

impl<'de> de::Deserializer<'de> for De {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Json::Null => visitor.visit_unit(),
            Json::Bool(b) => visitor.visit_bool(b),
            Json::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => visitor.visit_u64(u),
                (_, Some(i)) => visitor.visit_i64(i),
                _ => err(format!("ITF integers are whole numbers, found {n}")),
            },
            Json::String(s) => visitor.visit_string(s),
            Json::Array(a) => visitor.visit_seq(SeqDe(a.into_iter())),
            Json::Object(o) => {
                if let Some(Json::String(b)) = o.get("#bigint") {
                    let n: i128 = b.parse().map_err(|_| de::Error::custom(format!("bad #bigint {b}")))?;
                    return visitor.visit_i128(n);
                }
                if o.contains_key("#tup") || o.contains_key("#set") {
                    return visitor.visit_seq(SeqDe(elements(Json::Object(o))?.into_iter()));
                }
                if let Some(Json::Array(pairs)) = o.get("#map") {
                    return visitor.visit_map(PairsDe { it: pairs.clone().into_iter(), value: None });
                }
                if o.contains_key("#unserializable") {
                    return err("an #unserializable value has no reading");
                }
                visitor.visit_map(RecDe { it: o.into_iter(), value: None })
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match variant(self.0)? {
            (tag, _) if tag == "None" => visitor.visit_none(),
            (tag, v) if tag == "Some" => visitor.visit_some(De(v)),
            (tag, _) => err(format!("expected an option (Some or None), found tag {tag}")),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match elements(self.0) {
            Ok(a) if a.is_empty() => visitor.visit_unit(),
            _ => err("expected the unit { \"#tup\": [] }"),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(SeqDe(elements(self.0)?.into_iter()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Json::Object(o) => visitor.visit_map(RecDe { it: o.into_iter(), value: None }),
            other => err(format!("expected a record, found {other}")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (tag, value) = variant(self.0)?;
        visitor.visit_enum(EnumDe { tag, value })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf map identifier ignored_any
    }
}

struct SeqDe(std::vec::IntoIter<Json>);

impl<'de> de::SeqAccess<'de> for SeqDe {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|v| seed.deserialize(De(v))).transpose()
    }
}

/// A record's fields.
struct RecDe {
    it: serde_json::map::IntoIter,
    value: Option<Json>,
}

impl<'de> de::MapAccess<'de> for RecDe {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.it.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(De(self.value.take().unwrap_or(Json::Null)))
    }
}

/// A `#map`'s `[key, value]` pairs.
struct PairsDe {
    it: std::vec::IntoIter<Json>,
    value: Option<Json>,
}

impl<'de> de::MapAccess<'de> for PairsDe {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.it.next() {
            Some(Json::Array(mut kv)) if kv.len() == 2 => {
                self.value = kv.pop();
                seed.deserialize(De(kv.pop().unwrap_or(Json::Null))).map(Some)
            }
            Some(other) => err(format!("a #map entry is a [key, value] pair, found {other}")),
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(De(self.value.take().unwrap_or(Json::Null)))
    }
}

struct EnumDe {
    tag: String,
    value: Json,
}

impl<'de> de::EnumAccess<'de> for EnumDe {
    type Error = Error;
    type Variant = De;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, De), Error> {
        let tag = seed.deserialize(self.tag.into_deserializer())?;
        Ok((tag, De(self.value)))
    }
}

impl<'de> de::VariantAccess<'de> for De {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            Json::Object(o) if o.is_empty() => Ok(()),
            other => match elements(other) {
                Ok(a) if a.is_empty() => Ok(()),
                _ => err("a variant without data has the value {}"),
            },
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}
