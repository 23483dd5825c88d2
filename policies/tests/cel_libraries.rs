//! The Kubernetes CEL libraries and extensions, one test per library:
//! expressions whose expected values follow the Kubernetes documentation.

use policies::cel::{Activation, Env, compile};

/// Evaluates `expr` (no variables) and expects `true`.
fn holds(expr: &str) {
    let program =
        compile(expr, &Env::new(Vec::<String>::new())).unwrap_or_else(|e| panic!("{expr}: {e}"));
    match program.evaluate_bool(&Activation::new()) {
        Ok(true) => {}
        other => panic!("{expr}: {other:?}"),
    }
}

/// Expects `expr` not to compile, as Kubernetes' environment refuses it.
fn refused(expr: &str) {
    if let Ok(p) = compile(expr, &Env::new(Vec::<String>::new())) {
        panic!("{expr}: compiled, to {:?}", p.evaluate(&Activation::new()));
    }
}

/// Evaluates `expr` and expects an evaluation error containing `needle`.
fn errs(expr: &str, needle: &str) {
    let program =
        compile(expr, &Env::new(Vec::<String>::new())).unwrap_or_else(|e| panic!("{expr}: {e}"));
    match program.evaluate(&Activation::new()) {
        Err(e) => assert!(e.to_string().contains(needle), "{expr}: {e}"),
        Ok(v) => panic!("{expr}: expected an error, got {v:?}"),
    }
}

#[test]
fn lists_library() {
    holds("[1, 2, 3].isSorted() && ![3, 1].isSorted()");
    holds("[1, 2, 3].sum() == 6 && [].sum() == 0 && [1.5, 2.5].sum() == 4.0");
    holds("[3, 1, 2].min() == 1 && [3, 1, 2].max() == 3 && ['b', 'a'].min() == 'a'");
    holds(
        "[1, 2, 2, 3].indexOf(2) == 1 && [1, 2, 2, 3].lastIndexOf(2) == 2 && [1].indexOf(9) == -1",
    );
    errs("[].min()", "empty");
    // From the cel crate's lists extension, as Kubernetes enables it.
    holds(
        "[[1], [2, 3]].flatten() == [1, 2, 3] && [1, 1, 2].distinct() == [1, 2] && [3, 1, 2].sort() == [1, 2, 3]",
    );
    holds("[1, 2, 3, 4].slice(1, 3) == [2, 3]");
}

#[test]
fn strings_extension() {
    holds("'hello'.charAt(1) == 'e' && 'hello'.indexOf('l') == 2 && 'hello'.lastIndexOf('l') == 3");
    holds("'TacoCat'.lowerAscii() == 'tacocat' && 'TacoCat'.upperAscii() == 'TACOCAT'");
    holds("'a,b,c'.split(',') == ['a', 'b', 'c'] && ['a', 'b'].join('-') == 'a-b'");
    holds(
        "'  x '.trim() == 'x' && 'hello'.substring(1, 3) == 'el' && 'aXa'.replace('X', 'b') == 'aba'",
    );
    holds("'%s has %d replicas'.format(['web', 3]) == 'web has 3 replicas'");
    holds("strings.quote('a\"b') == '\"a\\\\\"b\"'");
    // Kubernetes enables the strings extension at version 2, without
    // `reverse` (lists have one).
    refused("'abc'.reverse()");
    holds("[1, 2].reverse() == [2, 1]");
}

#[test]
fn regex_library() {
    holds("'abc 123 def 456'.find('[0-9]+') == '123' && 'abc'.find('[0-9]+') == ''");
    holds("'abc 123 def 456'.findAll('[0-9]+') == ['123', '456']");
    holds("'abc 123 def 456'.findAll('[0-9]+', 1) == ['123']");
    holds("'registry.example.com/app'.matches('^registry\\\\.example\\\\.com/')");
    // A literal pattern is checked when the expression compiles.
    let err = compile("'abc'.find('[')", &Env::new(Vec::<String>::new())).unwrap_err();
    assert!(
        err.to_string().contains("invalid regular expression"),
        "{err}"
    );
}

#[test]
fn url_library() {
    holds("url('https://example.com:8443/a%20b?x=1&x=2&y=3').getScheme() == 'https'");
    holds("url('https://example.com:8443/path').getHost() == 'example.com:8443'");
    holds("url('https://example.com:8443/path').getHostname() == 'example.com'");
    holds("url('https://example.com:8443/path').getPort() == '8443'");
    holds(
        "url('https://example.com:443').getPort() == '443' && url('https://example.com').getPort() == ''",
    );
    holds(
        "url('https://[::1]:80/').getHostname() == '::1' && url('https://[::1]:80/').getHost() == '[::1]:80'",
    );
    holds(
        "url('https://example.com/a%20b').getEscapedPath() == '/a%20b' && url('https://example.com').getEscapedPath() == ''",
    );
    holds("url('https://example.com/?x=1&x=2&y=3').getQuery() == {'x': ['1', '2'], 'y': ['3']}");
    holds(
        "url('/absolute/path').getEscapedPath() == '/absolute/path' && url('/p').getScheme() == ''",
    );
    holds("isURL('https://example.com') && !isURL('not a url') && !isURL('relative/path')");
    errs("url('nope')", "URL parse error");
}

#[test]
fn quantity_library() {
    holds(
        "quantity('1Gi').isGreaterThan(quantity('1G')) && quantity('500m').isLessThan(quantity('1'))",
    );
    holds(
        "quantity('1k').compareTo(quantity('1000')) == 0 && quantity('2').compareTo(quantity('1')) == 1",
    );
    holds("quantity('1Ki').asInteger() == 1024 && quantity('1.5').asApproximateFloat() == 1.5");
    holds("quantity('1.5').isInteger() == false && quantity('2k').isInteger()");
    // Not in Kubernetes' quantity library.
    refused("quantity('-3').sign()");
    holds(
        "quantity('1Gi').add(quantity('1Gi')) == quantity('2Gi') && quantity('5').sub(2) == quantity('3')",
    );
    holds("quantity('100m').add(1) == quantity('1100m')");
    holds("isQuantity('250Mi') && !isQuantity('250MB') && !isQuantity('')");
    errs("quantity('1.5').asInteger()", "cannot convert");
    errs("quantity('lots')", "quantities must match");
}

#[test]
fn ip_and_cidr_libraries() {
    holds("ip('192.168.0.1').family() == 4 && ip('::1').family() == 6");
    holds(
        "ip('127.0.0.1').isLoopback() && ip('0.0.0.0').isUnspecified() && ip('::').isUnspecified()",
    );
    holds("ip('169.254.1.1').isLinkLocalUnicast() && ip('fe80::1').isLinkLocalUnicast()");
    holds("ip('224.0.0.1').isLinkLocalMulticast() && ip('ff02::1').isLinkLocalMulticast()");
    holds("ip('10.0.0.1').isGlobalUnicast() && !ip('127.0.0.1').isGlobalUnicast()");
    holds(
        "isIP('10.0.0.1') && !isIP('10.0.0.256') && !isIP('::ffff:1.2.3.4') && !isIP('010.0.0.1')",
    );
    holds("ip.isCanonical('2001:db8::1') && !ip.isCanonical('2001:DB8::1')");
    holds("string(ip('10.0.0.1')) == '10.0.0.1'");
    holds(
        "cidr('10.0.0.0/8').containsIP(ip('10.1.2.3')) && cidr('10.0.0.0/8').containsIP('10.1.2.3') && !cidr('10.0.0.0/8').containsIP('11.0.0.1')",
    );
    holds(
        "cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16') && !cidr('10.1.0.0/16').containsCIDR('10.0.0.0/8')",
    );
    holds(
        "cidr('192.168.1.5/24').masked() == cidr('192.168.1.0/24') && cidr('192.168.1.5/24').prefixLength() == 24",
    );
    holds(
        "cidr('192.168.1.5/24').ip() == ip('192.168.1.5') && string(cidr('::1/128')) == '::1/128'",
    );
    holds("isCIDR('10.0.0.0/8') && !isCIDR('10.0.0.0/33') && !isCIDR('10.0.0.0')");
    errs("ip('nope')", "parse error");
}

#[test]
fn sets_library() {
    holds("sets.contains([1, 2, 3], [2, 3]) && !sets.contains([1], [2])");
    holds("sets.equivalent([1, 2, 2], [2, 1]) && !sets.equivalent([1], [1, 2])");
    holds("sets.intersects([1, 2], [2, 5]) && !sets.intersects([1], [3])");
}

#[test]
fn standard_library_conversions_and_time() {
    holds("int('42') == 42 && string(42) == '42' && double('1.5') == 1.5 && uint(3) == 3u");
    holds(
        "duration('1h') > duration('30m') && timestamp('2024-01-01T00:00:00Z').getFullYear() == 2024",
    );
    holds("type(1) == int && type('a') == string && size('héllo') == 5");
    // The math and base64 extensions are not in Kubernetes' environment.
    refused("math.greatest(1, 5, 3)");
    refused("base64.encode(b'a')");
}

#[test]
fn two_variable_comprehensions_are_not_confused_with_undeclared_references() {
    holds("{'a': 1, 'b': 2}.all(k, k.size() == 1)");
    holds("[1, 2, 3].exists(x, x == 2) && [1, 2, 3].map(x, x * x).filter(y, y > 1) == [4, 9]");
}

#[test]
fn format_library() {
    holds("!format.dns1123Label().validate('my-name').hasValue()");
    holds("format.dns1123Label().validate('My_Name').hasValue()");
    holds(
        "format.dns1123Label().validate('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa').value() == ['must be no more than 63 characters']",
    );
    holds(
        "!format.dns1123Subdomain().validate('a.example.com').hasValue() && format.dns1123Subdomain().validate('-a.com').hasValue()",
    );
    holds(
        "format.dns1035Label().validate('1abc').hasValue() && !format.dns1035Label().validate('abc1').hasValue()",
    );
    holds(
        "!format.qualifiedName().validate('example.com/my_name').hasValue() && format.qualifiedName().validate('/x').hasValue()",
    );
    holds(
        "!format.labelValue().validate('').hasValue() && format.labelValue().validate('-x').hasValue()",
    );
    holds(
        "!format.uuid().validate('123e4567-e89b-12d3-a456-426614174000').hasValue() && format.uuid().validate('nope').hasValue()",
    );
    holds("format.named('dns1123Label').hasValue() && !format.named('nope').hasValue()");
    holds("format.named('dns1123Label').value().validate('ok') == optional.none()");
}

/// The formats Kubernetes 1.31 added: name prefixes (a trailing dash is
/// allowed, a suffix will follow), and kube-openapi's `uri`, `byte`,
/// `date`, `datetime`. Cases follow the examples in the library's
/// documentation.
#[test]
fn format_library_prefixes_and_openapi_formats() {
    holds("!format.dns1123LabelPrefix().validate('my-label-prefix-').hasValue()");
    holds("format.dns1123Label().validate('my-label-prefix-').hasValue()");
    holds("!format.dns1123SubdomainPrefix().validate('mysubdomain.prefix.-').hasValue()");
    holds("!format.dns1035LabelPrefix().validate('my-label-prefix-').hasValue()");
    holds("format.dns1035LabelPrefix().validate('1-prefix-').hasValue()");
    holds("!format.uri().validate('http://example.com').hasValue()");
    holds("!format.uri().validate('/absolute/path').hasValue()");
    holds(
        "format.uri().validate('example.com').value() == ['parse \"example.com\": invalid URI for request']",
    );
    holds("!format.byte().validate('aGVsbG8=').hasValue()");
    holds("format.byte().validate('not base64!').value() == ['invalid base64']");
    holds("!format.date().validate('2021-01-01').hasValue()");
    holds("format.date().validate('2021-13-01').value() == ['invalid date']");
    holds("format.date().validate('2021-1-1').hasValue()");
    holds("!format.datetime().validate('2021-01-01T00:00:00Z').hasValue()");
    holds("!format.datetime().validate('2021-01-01T10:30:00.5+02:00').hasValue()");
    holds("format.datetime().validate('2021-01-01').value() == ['invalid datetime']");
    for name in [
        "dns1123LabelPrefix",
        "dns1123SubdomainPrefix",
        "dns1035LabelPrefix",
        "uri",
        "byte",
        "date",
        "datetime",
    ] {
        holds(&format!("format.named('{name}').hasValue()"));
    }
}

/// Examples from Kubernetes' semver library documentation.
#[test]
fn semver_library() {
    holds("isSemver('1.0.0') && !isSemver('hello') && !isSemver('v1.0')");
    holds("isSemver('v1.0', true) && isSemver('1.0', true) && isSemver('01.01.01', true)");
    holds("!isSemver('1.0-rc.1', true)");
    holds(
        "semver('1.2.3').major() == 1 && semver('1.2.3').minor() == 2 && semver('1.2.3').patch() == 3",
    );
    holds(
        "semver('v1.0.0', true) == semver('1.0.0') && semver('01.01.01', true) == semver('1.1.1')",
    );
    holds("semver('1.2.3').compareTo(semver('1.2.3')) == 0");
    holds("semver('1.2.3').compareTo(semver('2.0.0')) == -1");
    holds("semver('1.2.3').compareTo(semver('0.1.2')) == 1");
    holds("semver('1.0.0-alpha').isLessThan(semver('1.0.0'))");
    holds("semver('1.0.0-alpha.1').isLessThan(semver('1.0.0-alpha.beta'))");
    holds("semver('1.0.0-rc.1').isGreaterThan(semver('1.0.0-beta.11'))");
    // Build metadata does not take part in precedence.
    holds("semver('1.0.0+build.1').compareTo(semver('1.0.0+build.2')) == 0");
    errs("semver('200K')", "invalid semantic version");
    errs("semver('Three')", "invalid semantic version");
    errs("semver('v1.0.0')", "invalid semantic version");
    // Quantities keep their own compareTo beside semver's.
    holds("quantity('1Gi').compareTo(quantity('1G')) == 1");
}

/// `jsonpatch.escapeKey` escapes `~` and `/` as JSON Pointer (RFC 6901)
/// requires, for patch paths built from label and annotation keys.
#[test]
fn jsonpatch_is_only_for_mutating_policies() {
    // Kubernetes declares it for MutatingAdmissionPolicy, not for
    // validating policies and CRD rules.
    refused("jsonpatch.escapeKey('k8s.io/my~label')");
}
