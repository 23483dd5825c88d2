//! The general CEL layer: compile, evaluate, JSON numbers, load-time
//! checks and the cost limit.

use policies::cel::{Activation, CompileError, Env, EvalError, Value, compile};
use serde_json::json;

fn env() -> Env {
    Env::new(["object", "self"])
}

fn eval(expr: &str, object: serde_json::Value) -> Result<Value, EvalError> {
    let program = compile(expr, &env()).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let mut act = Activation::new();
    act.insert_json("object", &object).unwrap();
    program.evaluate(&act)
}

#[test]
fn json_integers_are_cel_ints() {
    assert_eq!(
        eval("object.spec.replicas + 1", json!({"spec": {"replicas": 3}})),
        Ok(Value::Int(4))
    );
}

#[test]
fn reading_an_absent_field_is_a_no_such_key_error() {
    let err = eval("object.spec.replicas > 1", json!({"spec": {}})).unwrap_err();
    assert_eq!(
        err,
        EvalError::Execution("no such key: replicas".to_string())
    );
}

#[test]
fn has_macro_tests_presence_without_error() {
    assert_eq!(
        eval("has(object.spec.replicas)", json!({"spec": {}})),
        Ok(Value::Bool(false))
    );
}

#[test]
fn standard_macros_all_exists_exists_one_map_filter() {
    let obj = json!({"items": [1, 2, 3]});
    assert_eq!(
        eval("object.items.all(x, x > 0)", obj.clone()),
        Ok(Value::Bool(true))
    );
    assert_eq!(
        eval("object.items.exists(x, x == 2)", obj.clone()),
        Ok(Value::Bool(true))
    );
    assert_eq!(
        eval("object.items.exists_one(x, x > 1)", obj.clone()),
        Ok(Value::Bool(false))
    );
    assert_eq!(
        eval("object.items.map(x, x * 2) == [2, 4, 6]", obj.clone()),
        Ok(Value::Bool(true))
    );
    assert_eq!(
        eval("object.items.filter(x, x % 2 == 1) == [1, 3]", obj),
        Ok(Value::Bool(true))
    );
}

#[test]
fn undeclared_identifier_is_a_compile_error_with_position() {
    let err = compile("object.a == 1 &&\n  oops.b", &env()).unwrap_err();
    match err {
        CompileError::UndeclaredReference { name, position } => {
            assert_eq!(name, "oops");
            assert_eq!((position.line, position.column), (2, 3));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn unknown_function_is_a_compile_error() {
    assert!(matches!(
        compile("object.name.frobnicate()", &env()),
        Err(CompileError::UndeclaredFunction { name, .. }) if name == "frobnicate"
    ));
}

#[test]
fn literal_type_mismatch_is_a_compile_error() {
    assert!(matches!(
        compile("object.x == 1 || 1 + 'a' == 2", &env()),
        Err(CompileError::Type { .. })
    ));
    assert!(matches!(
        compile("'abc'.startsWith(1)", &env()),
        Err(CompileError::Type { .. })
    ));
}

#[test]
fn syntax_error_is_a_compile_error() {
    assert!(matches!(
        compile("object.a ==", &env()),
        Err(CompileError::Syntax { .. })
    ));
}

#[test]
fn runaway_comprehension_hits_the_cost_limit() {
    let items: Vec<i64> = (0..2000).collect();
    let program = compile(
        "object.items.all(x, object.items.all(y, x + y >= 0))",
        &env(),
    )
    .unwrap();
    let mut act = Activation::new();
    act.insert_json("object", &json!({"items": items})).unwrap();
    // The compiled evaluator charges the same budget as the interpreter.
    assert!(program.is_compiled());
    assert_eq!(
        program.evaluate(&act),
        Err(EvalError::CostLimit { limit: 1_000_000 })
    );
    assert_eq!(
        program.evaluate_interpreted(&act),
        Err(EvalError::CostLimit { limit: 1_000_000 })
    );
}

#[test]
fn cost_limit_is_configurable() {
    let program = compile("object.items.all(x, x > 0)", &env().with_cost_limit(3)).unwrap();
    assert!(program.is_compiled());
    let mut act = Activation::new();
    act.insert_json("object", &json!({"items": [1, 2, 3]}))
        .unwrap();
    assert!(matches!(
        program.evaluate(&act),
        Err(EvalError::CostLimit { .. })
    ));
    assert!(matches!(
        program.evaluate_interpreted(&act),
        Err(EvalError::CostLimit { .. })
    ));
    act.insert_json("object", &json!({"items": [1, 2]}))
        .unwrap();
    assert_eq!(program.evaluate(&act), Ok(Value::Bool(true)));
}

#[test]
fn crd_rules_use_self_and_old_self() {
    let env = Env::new(["self", "oldSelf"]);
    let program = compile("self.replicas >= oldSelf.replicas", &env).unwrap();
    let mut act = Activation::new();
    act.insert_json("self", &json!({"replicas": 3})).unwrap();
    act.insert_json("oldSelf", &json!({"replicas": 2})).unwrap();
    assert_eq!(program.evaluate_bool(&act), Ok(true));
}
