//! Any `Serialize` value to an ITF expression (see the table in
//! [`crate::itf`]).

use serde::ser::{self, Serialize};
use serde_json::{json, Error, Map, Value as Json};

/// `value` as an ITF expression.
pub fn to_itf_value<T: Serialize + ?Sized>(value: &T) -> Result<Json, Error> {
    value.serialize(Ser)
}

/// Quint's variant: `{ "tag": name, "value": value }`.
fn variant(tag: &str, value: Json) -> Json {
    json!({ "tag": tag, "value": value })
}

/// The unit value of a variant without data (Quint writes `{}`).
fn unit() -> Json {
    Json::Object(Map::new())
}

fn int<N: Into<i128>>(n: N) -> Result<Json, Error> {
    let n: i128 = n.into();
    // RFC 7159 safe range; beyond it ITF asks for `#bigint`.
    if n.unsigned_abs() < (1 << 53) {
        Ok(json!(n as i64))
    } else {
        Ok(json!({ "#bigint": n.to_string() }))
    }
}

struct Ser;

/// Collects a list, a tuple or a variant's tuple.
struct Seq {
    items: Vec<Json>,
    /// `None`: a list; `Some(None)`: a tuple; `Some(Some(tag))`: a tuple variant.
    tuple: Option<Option<&'static str>>,
}

/// Collects a map's entries.
struct MapSer {
    entries: Vec<Json>,
    key: Option<Json>,
}

/// Collects a record, possibly a struct variant's.
struct Rec {
    fields: Map<String, Json>,
    tag: Option<&'static str>,
}

impl ser::Serializer for Ser {
    type Ok = Json;
    type Error = Error;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Seq;
    type SerializeMap = MapSer;
    type SerializeStruct = Rec;
    type SerializeStructVariant = Rec;

    fn serialize_bool(self, v: bool) -> Result<Json, Error> {
        Ok(Json::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Json, Error> {
        int(v)
    }
    fn serialize_i16(self, v: i16) -> Result<Json, Error> {
        int(v)
    }
    fn serialize_i32(self, v: i32) -> Result<Json, Error> {
        int(v)
    }
    fn serialize_i64(self, v: i64) -> Result<Json, Error> {
        int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Json, Error> {
        int(v)
    }
    fn serialize_u16(self, v: u16) -> Result<Json, Error> {
        int(v)
    }
    fn serialize_u32(self, v: u32) -> Result<Json, Error> {
        int(v)
    }
    fn serialize_u64(self, v: u64) -> Result<Json, Error> {
        int(v)
    }
    fn serialize_f32(self, _: f32) -> Result<Json, Error> {
        Err(ser::Error::custom("ITF has no floating-point numbers"))
    }
    fn serialize_f64(self, _: f64) -> Result<Json, Error> {
        Err(ser::Error::custom("ITF has no floating-point numbers"))
    }
    fn serialize_char(self, v: char) -> Result<Json, Error> {
        Ok(Json::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Json, Error> {
        Ok(Json::String(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Json, Error> {
        v.iter().map(|b| int(*b)).collect::<Result<Vec<_>, _>>().map(Json::Array)
    }
    fn serialize_none(self) -> Result<Json, Error> {
        Ok(variant("None", unit()))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Json, Error> {
        Ok(variant("Some", value.serialize(Ser)?))
    }
    fn serialize_unit(self) -> Result<Json, Error> {
        Ok(json!({ "#tup": [] }))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Json, Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, tag: &'static str) -> Result<Json, Error> {
        Ok(variant(tag, unit()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<Json, Error> {
        value.serialize(Ser)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        tag: &'static str,
        value: &T,
    ) -> Result<Json, Error> {
        Ok(variant(tag, value.serialize(Ser)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq, Error> {
        Ok(Seq { items: Vec::with_capacity(len.unwrap_or(0)), tuple: None })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq, Error> {
        Ok(Seq { items: Vec::with_capacity(len), tuple: Some(None) })
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq, Error> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, tag: &'static str, len: usize) -> Result<Seq, Error> {
        Ok(Seq { items: Vec::with_capacity(len), tuple: Some(Some(tag)) })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapSer, Error> {
        Ok(MapSer { entries: Vec::new(), key: None })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Rec, Error> {
        Ok(Rec { fields: Map::new(), tag: None })
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, tag: &'static str, _: usize) -> Result<Rec, Error> {
        Ok(Rec { fields: Map::new(), tag: Some(tag) })
    }
}

impl Seq {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.items.push(value.serialize(Ser)?);
        Ok(())
    }
    fn done(self) -> Json {
        match self.tuple {
            None => Json::Array(self.items),
            Some(None) => json!({ "#tup": self.items }),
            Some(Some(tag)) => variant(tag, json!({ "#tup": self.items })),
        }
    }
}

/// The four serde sequence traits, which differ only in their method's
/// name, all push an element and end in [`Seq::done`].
macro_rules! seq_impl {
    ($($tr:ident :: $method:ident),*) => {$(
        impl ser::$tr for Seq {
            type Ok = Json;
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.push(value)
            }
            fn end(self) -> Result<Json, Error> {
                Ok(self.done())
            }
        }
    )*};
}
seq_impl!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for MapSer {
    type Ok = Json;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key.serialize(Ser)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().ok_or_else(|| ser::Error::custom("map value without a key"))?;
        self.entries.push(json!([key, value.serialize(Ser)?]));
        Ok(())
    }
    fn end(self) -> Result<Json, Error> {
        Ok(json!({ "#map": self.entries }))
    }
}

impl Rec {
    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.fields.insert(key.to_string(), value.serialize(Ser)?);
        Ok(())
    }
    fn done(self) -> Json {
        match self.tag {
            None => Json::Object(self.fields),
            Some(tag) => variant(tag, Json::Object(self.fields)),
        }
    }
}

/// A struct and a struct variant both end in [`Rec::done`].
macro_rules! rec_impl {
    ($($tr:ident),*) => {$(
        impl ser::$tr for Rec {
            type Ok = Json;
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
                self.field(key, value)
            }
            fn end(self) -> Result<Json, Error> {
                Ok(self.done())
            }
        }
    )*};
}
rec_impl!(SerializeStruct, SerializeStructVariant);
