//! JSON request bodies checked against the schema the OpenAPI document
//! publishes for them, so that one problem lists EVERY failing field
//! (missing, wrongly typed, too long, not one of the allowed values,
//! unknown), not only the first one serde stops at.
//!
//! The typed deserialization stays the authority: the schema walk runs only
//! when it fails, and serde's own error is added when the walk did not
//! already name its field. Field messages are French; `code` is stable.

use std::collections::HashMap;

use serde_json::Value;
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;

use crate::error::FieldError;

/// Deepest nesting walked (bodies are shallow; the body ceiling bounds the
/// rest).
const MAX_DEPTH: usize = 32;

/// Every field of `value` that does not fit `T`'s schema.
pub fn schema_errors<T: utoipa::ToSchema>(value: &Value) -> Vec<FieldError> {
    let mut named = Vec::new();
    T::schemas(&mut named);
    let defs: HashMap<String, RefOr<Schema>> = named.into_iter().collect();
    let mut walk = Walk {
        defs: &defs,
        errs: Vec::new(),
    };
    walk.value(&T::schema(), value, "", 0, true);
    walk.errs
}

/// serde's error turned into a field error with a stable code and a French
/// message (never echoing the value).
pub fn serde_field_error(path: &str, message: &str) -> FieldError {
    let base = if path == "." { "" } else { path };
    if let Some(name) = backticked(message).filter(|_| message.starts_with("missing field")) {
        return FieldError::coded(join(base, &name), "required", REQUIRED);
    }
    if let Some(name) = backticked(message).filter(|_| message.starts_with("unknown field")) {
        return FieldError::coded(join(base, &name), "unknown_field", UNKNOWN);
    }
    let field = if base.is_empty() {
        "body".to_string()
    } else {
        base.to_string()
    };
    if message.starts_with("invalid type") {
        let expected = message
            .rsplit_once(", expected ")
            .map_or("", |(_, e)| e)
            .trim_end_matches('.')
            .to_string();
        return FieldError::coded(
            field,
            "invalid_type",
            format!("type incorrect (attendu : {})", french_expected(&expected)),
        );
    }
    if message.starts_with("unknown variant") {
        let allowed = message
            .split_once("expected ")
            .map_or(String::new(), |(_, a)| a.replace('`', ""));
        return FieldError::coded(
            field,
            "invalid_value",
            format!("valeur non reconnue (valeurs possibles : {allowed})"),
        );
    }
    FieldError::coded(field, "invalid_value", "valeur invalide")
}

const REQUIRED: &str = "ce champ est obligatoire";
const UNKNOWN: &str = "champ inconnu";

fn french_expected(serde_expected: &str) -> &'static str {
    let e = serde_expected;
    if e.contains("string") || e.contains("char") {
        "une chaîne de caractères"
    } else if e.contains("bool") {
        "un booléen"
    } else if e.contains("integer") || e.starts_with("i") || e.starts_with("u") {
        "un nombre entier"
    } else if e.contains("f64") || e.contains("f32") || e.contains("number") {
        "un nombre"
    } else if e.contains("sequence") || e.contains("array") {
        "une liste"
    } else if e.contains("map") || e.contains("struct") {
        "un objet"
    } else {
        "une autre valeur"
    }
}

fn backticked(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

struct Walk<'a> {
    defs: &'a HashMap<String, RefOr<Schema>>,
    errs: Vec<FieldError>,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn fits(t: &Type, v: &Value) -> bool {
    matches!(
        (t, json_type(v)),
        (Type::Null, "null")
            | (Type::Boolean, "boolean")
            | (Type::Integer, "integer")
            | (Type::Number, "integer" | "number")
            | (Type::String, "string")
            | (Type::Array, "array")
            | (Type::Object, "object")
    )
}

fn type_name(t: &Type) -> &'static str {
    match t {
        Type::Null => "null",
        Type::Boolean => "un booléen",
        Type::Integer => "un nombre entier",
        Type::Number => "un nombre",
        Type::String => "une chaîne de caractères",
        Type::Array => "une liste",
        Type::Object => "un objet",
    }
}

/// `Ok` when `v` has one of the schema's types, else the French list of
/// what was expected.
fn check_type(st: &SchemaType, v: &Value) -> Result<(), String> {
    let types: Vec<&Type> = match st {
        SchemaType::AnyValue => return Ok(()),
        SchemaType::Type(t) => vec![t],
        SchemaType::Array(ts) => ts.iter().collect(),
    };
    if types.iter().any(|t| fits(t, v)) {
        return Ok(());
    }
    Err(types
        .iter()
        .filter(|t| !matches!(t, Type::Null))
        .map(|t| type_name(t))
        .collect::<Vec<_>>()
        .join(" ou "))
}

fn field_name(path: &str) -> String {
    if path.is_empty() {
        "body".to_string()
    } else {
        path.to_string()
    }
}

impl Walk<'_> {
    fn wrong_type(&mut self, path: &str, expected: &str) {
        self.errs.push(FieldError::coded(
            field_name(path),
            "invalid_type",
            format!("type incorrect (attendu : {expected})"),
        ));
    }

    /// Walk `v` against `schema`. `closed`: unknown properties are reported
    /// when the schema forbids them (false inside `allOf`, where each part
    /// sees only some of the properties).
    fn value(&mut self, schema: &RefOr<Schema>, v: &Value, path: &str, depth: usize, closed: bool) {
        if depth > MAX_DEPTH {
            return;
        }
        let schema = match schema {
            RefOr::Ref(r) => {
                let name = r.ref_location.rsplit('/').next().unwrap_or("");
                match self.defs.get(name) {
                    Some(s) => s,
                    None => return,
                }
            }
            s @ RefOr::T(_) => s,
        };
        let RefOr::T(schema) = schema else {
            // A reference to a reference: not produced by the derive.
            return;
        };
        match schema {
            Schema::Object(o) => {
                if let Err(expected) = check_type(&o.schema_type, v) {
                    self.wrong_type(path, &expected);
                    return;
                }
                match v {
                    Value::String(s) => {
                        if let Some(allowed) = &o.enum_values {
                            if !allowed.iter().any(|a| a == v) {
                                let list = allowed
                                    .iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(", ");
                                self.errs.push(FieldError::coded(
                                    field_name(path),
                                    "invalid_value",
                                    format!("valeur non reconnue (valeurs possibles : {list})"),
                                ));
                                return;
                            }
                        }
                        if let Some(max) = o.max_length {
                            if s.chars().count() > max {
                                self.errs.push(FieldError::coded(
                                    field_name(path),
                                    "too_long",
                                    format!("{max} caractères au plus"),
                                ));
                            }
                        }
                    }
                    Value::Object(map) => {
                        for name in &o.required {
                            if !map.contains_key(name) {
                                self.errs.push(FieldError::coded(
                                    join(path, name),
                                    "required",
                                    REQUIRED,
                                ));
                            }
                        }
                        for (k, fv) in map {
                            match o.properties.get(k) {
                                Some(ps) => self.value(ps, fv, &join(path, k), depth + 1, true),
                                None => match o.additional_properties.as_deref() {
                                    Some(AdditionalProperties::RefOr(ps)) => {
                                        self.value(ps, fv, &join(path, k), depth + 1, true)
                                    }
                                    Some(AdditionalProperties::FreeForm(false))
                                        if closed && !o.properties.is_empty() =>
                                    {
                                        self.errs.push(FieldError::coded(
                                            join(path, k),
                                            "unknown_field",
                                            UNKNOWN,
                                        ))
                                    }
                                    _ => {}
                                },
                            }
                        }
                    }
                    _ => {}
                }
            }
            Schema::Array(a) => {
                if let Err(expected) = check_type(&a.schema_type, v) {
                    self.wrong_type(path, &expected);
                    return;
                }
                if let (Value::Array(items), ArrayItems::RefOrSchema(item)) = (v, &a.items) {
                    for (i, iv) in items.iter().enumerate() {
                        self.value(item, iv, &format!("{path}[{i}]"), depth + 1, true);
                    }
                }
            }
            Schema::AllOf(all) => {
                for part in &all.items {
                    self.value(part, v, path, depth + 1, false);
                }
            }
            Schema::OneOf(one) => self.alternatives(&one.items, v, path, depth),
            Schema::AnyOf(any) => self.alternatives(&any.items, v, path, depth),
            _ => {}
        }
    }

    /// `oneOf`/`anyOf` (`Option<T>`, enums with data): fine when one
    /// alternative fits; else the errors inside the alternative whose type
    /// fits best, or one error at `path`.
    fn alternatives(&mut self, items: &[RefOr<Schema>], v: &Value, path: &str, depth: usize) {
        let mut best: Option<Vec<FieldError>> = None;
        for alt in items {
            let mut sub = Walk {
                defs: self.defs,
                errs: Vec::new(),
            };
            sub.value(alt, v, path, depth + 1, true);
            if sub.errs.is_empty() {
                return;
            }
            let here = field_name(path);
            let deeper = sub.errs.iter().all(|e| e.field != here);
            if deeper && best.as_ref().is_none_or(|b| sub.errs.len() < b.len()) {
                best = Some(sub.errs);
            }
        }
        match best {
            Some(errs) => self.errs.extend(errs),
            None => self.errs.push(FieldError::coded(
                field_name(path),
                if v.is_null() {
                    "invalid_type"
                } else {
                    "invalid_value"
                },
                "valeur invalide pour ce champ",
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: i64,
        #[schema(max_length = 3)]
        s: String,
    }

    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Kind {
        Note,
        Call,
    }

    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        a: String,
        b: i64,
        c: bool,
        d: Vec<String>,
        #[serde(default)]
        opt: Option<Inner>,
        kind: Kind,
        #[serde(default)]
        items: Vec<Inner>,
    }

    fn codes(errs: &[FieldError]) -> Vec<(String, &'static str)> {
        let mut v: Vec<_> = errs
            .iter()
            .map(|e| (e.field.clone(), e.code.unwrap_or("")))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn every_failing_field_is_named() {
        let v = serde_json::json!({"c": "yes", "kind": "note", "x": 1});
        let errs = schema_errors::<Body>(&v);
        assert_eq!(
            codes(&errs),
            [
                ("a".to_string(), "required"),
                ("b".to_string(), "required"),
                ("c".to_string(), "invalid_type"),
                ("d".to_string(), "required"),
                ("x".to_string(), "unknown_field"),
            ]
        );
        assert!(errs.iter().all(|e| !e.message.is_empty()));
    }

    #[test]
    fn nested_lists_options_and_enums_are_walked() {
        let v = serde_json::json!({
            "a": "x", "b": 1.5, "c": true, "d": ["ok", 3],
            "opt": {"n": "1", "s": "abcd"}, "kind": "shout",
            "items": [{"n": 1, "s": "ok"}, {"s": "ok"}]
        });
        assert_eq!(
            codes(&schema_errors::<Body>(&v)),
            [
                ("b".to_string(), "invalid_type"),
                ("d[1]".to_string(), "invalid_type"),
                ("items[1].n".to_string(), "required"),
                ("kind".to_string(), "invalid_value"),
                ("opt.n".to_string(), "invalid_type"),
                ("opt.s".to_string(), "too_long"),
            ]
        );
        let ok =
            serde_json::json!({"a": "x", "b": 1, "c": true, "d": [], "kind": "call", "opt": null});
        assert!(schema_errors::<Body>(&ok).is_empty());
    }

    #[test]
    fn serde_errors_get_codes_and_french() {
        let e = serde_field_error(".", "missing field `email`");
        assert_eq!((e.field.as_str(), e.code), ("email", Some("required")));
        let e = serde_field_error("a.b", "invalid type: string \"secret\", expected a boolean");
        assert_eq!((e.field.as_str(), e.code), ("a.b", Some("invalid_type")));
        assert!(!e.message.contains("secret"), "{}", e.message);
        assert!(e.message.contains("booléen"), "{}", e.message);
        let e = serde_field_error(
            "role",
            "unknown variant `boss`, expected `admin` or `employer`",
        );
        assert_eq!(e.code, Some("invalid_value"));
        assert!(!e.message.contains("boss"));
    }
}
