//! Value types of the language: human durations, semantic versions and "a value or a template".

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written the way people write it: `30s`, `5m`, `1h30m`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&humantime::format_duration(self.0), f)
    }
}

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s.trim()).map(HumanDuration).map_err(|e| {
            format!("invalid duration `{s}`: {e}; write a number with a unit, e.g. `30s`, `5m`, `1h30m`")
        })
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `30s` or `5m`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write `{v}s` or `{v}m`, not `{v}`"
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                self.visit_i64(v as i64)
            }
        }
        d.deserialize_str(V)
    }
}

const DURATION_PATTERN: &str = r"^\s*([0-9]+\s*[a-zA-Zµ]+\s*)+$";

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A human duration: a number and a unit, e.g. `30s`, `5m`, `1h30m`.",
            "examples": ["30s", "5m", "1h30m"]
        })
    }
}

/// A semantic version (`major.minor.patch`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub semver::Version);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Version;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a semantic version such as `1.0.0`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Version, E> {
                semver::Version::parse(v).map(Version).map_err(|e| {
                    E::custom(format!(
                        "invalid version `{v}`: {e}; use semantic versioning, e.g. `1.0.0`"
                    ))
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Version, E> {
                Err(E::custom(format!(
                    "invalid version `{v}`: use all three parts of a semantic version, e.g. `{v}.0`"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Version, E> {
                Err(E::custom(format!(
                    "invalid version `{v}`: use all three parts of a semantic version, e.g. `{v}.0.0`"
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Version, E> {
                self.visit_i64(v as i64)
            }
        }
        d.deserialize_str(V)
    }
}

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$",
            "description": "A semantic version, e.g. `1.0.0`."
        })
    }
}

/// A typed value, or a template string that renders to one at run time
/// (e.g. `min_ready: "{{ params.replicas }}"`).
#[derive(Clone, Debug, PartialEq)]
pub enum Templated<T> {
    Value(T),
    Template(String),
}

impl<T: Clone> Templated<T> {
    /// The value when it is known before the run.
    pub fn value(&self) -> Option<T> {
        match self {
            Templated::Value(v) => Some(v.clone()),
            Templated::Template(_) => None,
        }
    }
}

impl<T: Serialize> Serialize for Templated<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Templated::Value(v) => v.serialize(s),
            Templated::Template(t) => s.serialize_str(t),
        }
    }
}

/// Whether a string is (or holds) a template rather than a literal.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

impl<'de, T> Deserialize<'de> for Templated<T>
where
    T: Deserialize<'de> + FromStr,
    <T as FromStr>::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::IntoDeserializer;
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T> Visitor<'de> for V<T>
        where
            T: Deserialize<'de> + FromStr,
            <T as FromStr>::Err: fmt::Display,
        {
            type Value = Templated<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or a `{{ template }}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Templated<T>, E> {
                if is_template(v) {
                    Ok(Templated::Template(v.to_owned()))
                } else {
                    v.trim().parse().map(Templated::Value).map_err(|e| {
                        E::custom(format!(
                            "`{v}` is not a valid value: {e}; give a literal value or a `{{{{ template }}}}`"
                        ))
                    })
                }
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Templated<T>, E> {
                T::deserialize(v.into_deserializer()).map(Templated::Value)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Templated<T>, E> {
                T::deserialize(v.into_deserializer()).map(Templated::Value)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Templated<T>, E> {
                T::deserialize(v.into_deserializer()).map(Templated::Value)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Templated<T>, E> {
                T::deserialize(v.into_deserializer()).map(Templated::Value)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for Templated<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Templated_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let inner = generator.subschema_for::<T>();
        json_schema!({
            "anyOf": [inner, {"type": "string", "pattern": "\\{[{%]", "description": "A template rendered at run time."}]
        })
    }
}
