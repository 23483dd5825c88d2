//! Reference-counted maps and lists for the objects policies read.
//!
//! The `cel` 0.15 interpreter copies a value whenever it needs to own it:
//! every element a comprehension (`all`, `exists`, `map`…) binds to its
//! loop variable is copied with `clone_as_boxed`, and its built-in map and
//! list copy deeply, so `containers.all(c, …)` copied every container with
//! all its strings, for every policy. [`SharedMap`] and [`SharedList`] hold
//! the same built-in map and list behind an `Arc`: a copy costs one
//! reference count. They present themselves to the interpreter as the
//! built-in types (same CEL type, same `downcast_ref`, same operators and
//! equality), so expressions cannot tell them apart.

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::traits::{Adder, Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{CelList, CelMap, CelMapKey, Type};
use cel::common::value::{Builtin, BuiltinRef, Val};

/// A built-in CEL map shared by reference count.
#[derive(Debug, Clone)]
pub(crate) struct SharedMap(Arc<CelMap<'static>>);

/// A built-in CEL list shared by reference count.
#[derive(Debug, Clone)]
pub(crate) struct SharedList(Arc<CelList<'static>>);

/// Converts a value to the interpreter's form, with shared containers, for
/// programs the compiled evaluator leaves to the interpreter. `None` for
/// values the interpreter cannot hold.
pub(crate) fn value_to_val(v: &cel::Value) -> Option<Box<dyn Val>> {
    if super::eval::object::as_object(v).is_some() {
        return value_to_val(&super::eval::object::materialize(v.clone()));
    }
    match v {
        cel::Value::List(items) => Some(Box::new(SharedList(Arc::new(CelList::from(
            items.iter().map(value_to_val).collect::<Option<Vec<_>>>()?,
        ))))),
        cel::Value::Map(m) => {
            let map: HashMap<CelMapKey<'static>, Box<dyn Val>> = m
                .map
                .iter()
                .map(|(k, v)| Some((CelMapKey::from(k.clone()), value_to_val(v)?)))
                .collect::<Option<_>>()?;
            Some(Box::new(SharedMap(Arc::new(CelMap::from(map)))))
        }
        other => Box::<dyn Val>::try_from(other.clone()).ok(),
    }
}

impl Val for SharedMap {
    fn get_type(&self) -> &Type {
        self.0.get_type()
    }

    fn cel_type() -> &'static Type {
        <CelMap<'static> as Val>::cel_type()
    }

    fn as_container(&self) -> Option<&dyn Container> {
        self.0.as_container()
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        self.0.as_indexer()
    }

    fn into_indexer<'w>(self: Box<Self>) -> Option<Box<dyn Indexer + 'w>>
    where
        Self: 'w,
    {
        Box::new(Arc::unwrap_or_clone(self.0)).into_indexer()
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        self.0.as_iterable()
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        self.0.as_sizer()
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        self.0.as_zeroer()
    }

    fn equals(&self, other: &dyn Val) -> bool {
        self.0.equals(other)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(self.clone())
    }

    fn as_builtin<'b, 'w>(&'b self) -> BuiltinRef<'b, 'w>
    where
        Self: 'w,
    {
        BuiltinRef::Map(&self.0)
    }

    fn into_builtin<'w>(self: Box<Self>) -> Option<Builtin<'w>>
    where
        Self: 'w,
    {
        Some(Builtin::Map(Arc::unwrap_or_clone(self.0)))
    }
}

impl Val for SharedList {
    fn get_type(&self) -> &Type {
        self.0.get_type()
    }

    fn cel_type() -> &'static Type {
        <CelList<'static> as Val>::cel_type()
    }

    fn as_adder<'b, 'w>(&'b self) -> Option<&'b (dyn Adder + 'w)>
    where
        Self: 'w,
    {
        self.0.as_adder()
    }

    fn as_container(&self) -> Option<&dyn Container> {
        self.0.as_container()
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        self.0.as_indexer()
    }

    fn into_indexer<'w>(self: Box<Self>) -> Option<Box<dyn Indexer + 'w>>
    where
        Self: 'w,
    {
        Box::new(Arc::unwrap_or_clone(self.0)).into_indexer()
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        self.0.as_iterable()
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        self.0.as_sizer()
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        self.0.as_zeroer()
    }

    fn equals(&self, other: &dyn Val) -> bool {
        self.0.equals(other)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(self.clone())
    }

    fn as_builtin<'b, 'w>(&'b self) -> BuiltinRef<'b, 'w>
    where
        Self: 'w,
    {
        BuiltinRef::List(&self.0)
    }

    fn into_builtin<'w>(self: Box<Self>) -> Option<Builtin<'w>>
    where
        Self: 'w,
    {
        Some(Builtin::List(Arc::unwrap_or_clone(self.0)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::cel::{Activation, Env, Value, compile};

    fn eval(expr: &str, object: serde_json::Value) -> Value {
        let program = compile(expr, &Env::new(["object"])).expect("compiles");
        let mut act = Activation::new();
        act.insert_json("object", &object).expect("binds");
        program.evaluate(&act).expect("evaluates")
    }

    #[test]
    fn shared_containers_behave_as_built_in_ones() {
        let obj = json!({"m": {"a": 1, "b": [1, 2]}, "l": [{"x": "y"}, {"x": "z"}]});
        for (expr, want) in [
            // Values of different types need dyn(): Kubernetes refuses
            // non-homogeneous literals.
            ("object.m == {'a': dyn(1), 'b': dyn([1, 2])}", true),
            ("{'a': dyn(1), 'b': dyn([1, 2])} == object.m", true),
            ("object.l == [{'x': 'y'}, {'x': 'z'}]", true),
            (
                "object.l + [{'x': 'w'}] == [{'x': 'y'}, {'x': 'z'}, {'x': 'w'}]",
                true,
            ),
            ("type(object.m) == map && type(object.l) == list", true),
            ("size(object.m) == 2 && size(object.l) == 2", true),
            ("'a' in object.m && {'x': 'y'} in object.l", true),
            ("object.l.all(e, e.x.startsWith('y') || e.x == 'z')", true),
            ("object.m.exists(k, k == 'b')", true),
            ("object.l.map(e, e.x) == ['y', 'z']", true),
            ("object.l.filter(e, e.x == 'z')[0].x == 'z'", true),
            ("has(object.m.a) && !has(object.m.c)", true),
            ("object.m.b[1] == 2", true),
        ] {
            assert_eq!(eval(expr, obj.clone()), Value::Bool(want), "{expr}");
        }
    }

    #[test]
    fn shared_containers_convert_back_to_values() {
        let obj = json!({"m": {"a": [1, "s"]}});
        let got = eval("object.m", obj.clone());
        assert_eq!(crate::cel::cel_to_json(&got), obj["m"]);
    }
}
