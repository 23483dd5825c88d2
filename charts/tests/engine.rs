//! Go text/template behaviours the charts rely on, one per test.

use charts::template::Templates;
use charts::yaml;

fn render(src: &str, values: &str) -> String {
    let mut t = Templates::default();
    t.add("t", src).expect("parses");
    let data = yaml::parse(values).expect("values parse");
    t.execute("t", &data).expect("executes")
}

#[test]
fn trim_markers_remove_adjacent_white_space() {
    assert_eq!(render("a  {{- 1 -}}  b", ""), "a1b");
}

#[test]
fn numbers_from_values_print_as_go_float64() {
    assert_eq!(
        render("{{ .a }} {{ .b }}", "a: 1000000\nb: 8080"),
        "1e+06 8080"
    );
}

#[test]
fn missing_keys_print_no_value() {
    assert_eq!(render("{{ .nope }}", "a: 1"), "<no value>");
}

#[test]
fn range_binds_key_and_value_in_key_order() {
    assert_eq!(
        render(
            "{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}",
            "b: 2\na: x"
        ),
        "a=x;b=2;"
    );
}

#[test]
fn else_if_chains_pick_the_first_true_branch() {
    assert_eq!(
        render(
            "{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}",
            "b: true"
        ),
        "B"
    );
}

#[test]
fn include_and_nindent_compose_a_defined_template() {
    assert_eq!(
        render(
            "{{- define \"x\" }}k: {{ . }}{{ end }}m:{{ include \"x\" \"v\" | nindent 2 }}",
            ""
        ),
        "m:\n  k: v"
    );
}

#[test]
fn to_yaml_sorts_keys_and_quotes_ambiguous_strings() {
    assert_eq!(
        render("{{ toYaml . }}", "b: \"true\"\na:\n- x: 1\n  z: \"\""),
        "a:\n- x: 1\n  z: \"\"\nb: \"true\""
    );
}

#[test]
fn and_stops_at_the_first_false_operand() {
    assert_eq!(render("{{ and .a .nope.deeper }}", "a: false"), "false");
}

#[test]
fn a_failing_field_names_file_line_column_and_expression() {
    let mut t = Templates::default();
    t.add("c/templates/x.yaml", "a: 1\nb: {{ .x.y.z }}")
        .expect("parses");
    let data = yaml::parse("a: 1").expect("values");
    let err = t
        .execute("c/templates/x.yaml", &data)
        .expect_err("missing x fails at .y");
    assert_eq!(
        err.to_string(),
        "c/templates/x.yaml:2:8\n  executing \"c/templates/x.yaml\" at <.x.y.z>:\n    nil pointer evaluating interface {}.y"
    );
}

#[test]
fn required_reports_its_message_with_the_call_position() {
    let mut t = Templates::default();
    t.add("c/templates/x.yaml", "a: {{ required \"need x\" .nope }}")
        .expect("parses");
    let err = t
        .execute("c/templates/x.yaml", &yaml::parse("a: 1").expect("values"))
        .expect_err("required fails");
    assert_eq!(
        err.to_string(),
        "execution error at (c/templates/x.yaml:1:6): need x"
    );
}

#[test]
fn to_yaml_folds_long_strings_past_column_eighty_like_yaml_v2() {
    let long = "word ".repeat(20);
    let out = render("{{ toYaml . }}", &format!("k: {:?}", long.trim()));
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn to_yaml_quotes_dates_that_yaml_1_1_reads_as_timestamps() {
    assert_eq!(
        render("{{ toYaml . }}", "d: \"2024-01-01\""),
        "d: \"2024-01-01\""
    );
}
