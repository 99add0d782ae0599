//! The tolerant pass: every unknown field, operator and keyword of a text the grammar rejects.
//!
//! pest stops at the first syntax error, so [`validate`](crate::validate) would otherwise say
//! nothing about the rest of the text. This pass reads the text once, left to right, with a small
//! state machine that follows the grammar's shape (operand, operator, value, connective, actions)
//! and resynchronises after anything it cannot place, classifying each word by where it stands.
//! It lexes exactly as the grammar does (keywords, identifiers, strings with escapes, `/regex/`
//! literals, bare values), so a valid expression gets no problem here.
//!
//! Every step consumes input or moves to a state that will; a word is peeked at most once from
//! the token before it. The pass is linear in the length of the text.

use std::collections::HashMap;

use crate::ast::{ActionKind, ValueMode, ValuePart};
use crate::diagnostic::{Diagnostic, DiagnosticKind as K, nearest};
use crate::fields::FieldRegistry;
use crate::parser::{OPERATOR_WORDS, decode};
use crate::validate::ExpressionKind;

/// Comparison symbols, in the grammar's order (the first that is a prefix wins).
const SYMBOL_OPS: &[&str] = &["==", "!=", "=~", "!~", ">=", "<=", ">", "<"];

/// Symbol runs people write for an operator the language spells differently.
const SYMBOL_FIXES: &[(&str, &str)] = &[
    ("=", "=="),
    ("=>", ">="),
    ("=<", "<="),
    ("~=", "=~"),
    ("=!", "!="),
    ("~", "=~"),
    ("!", "!="),
];

/// Characters that make up symbol runs in operator position.
const SYMBOL_CHARS: &[u8] = b"=!<>~?+-";

const CONNECTIVES: &[&str] = &["AND", "OR"];
const CONNECTIVES_AND_ACTIONS: &[&str] = &[
    "AND",
    "OR",
    "SET",
    "SET_IF_EMPTY",
    "APPEND",
    "REMOVE",
    "DELETE",
];
const ACTION_KEYWORDS: &[&str] = &["SET", "SET_IF_EMPTY", "APPEND", "REMOVE", "DELETE"];
const NOT_AND_ACTIONS: &[&str] = &["NOT", "SET", "SET_IF_EMPTY", "APPEND", "REMOVE", "DELETE"];
const NOT_ONLY: &[&str] = &["NOT"];

/// A keyword as the grammar reads it: the word, case-insensitive, not followed by an
/// identifier character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Action(ActionKind),
    And,
    Or,
    Not,
}

/// In the grammar's order, so `set_if_empty` wins over `set`.
const KEYWORD_TABLE: &[(&str, Keyword)] = &[
    ("set_if_empty", Keyword::Action(ActionKind::SetIfEmpty)),
    ("set", Keyword::Action(ActionKind::Set)),
    ("append", Keyword::Action(ActionKind::Append)),
    ("remove", Keyword::Action(ActionKind::Remove)),
    ("delete", Keyword::Action(ActionKind::Delete)),
    ("and", Keyword::And),
    ("or", Keyword::Or),
    ("not", Keyword::Not),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Where a condition starts: `NOT`, `(`, `true`, a field.
    Operand,
    /// After a field: modifiers, then an operator (or, in rules, an assignment).
    Operator,
    /// After an operator or assignment: one value.
    Value { then_actions: bool, mode: ValueMode },
    /// After a whole condition: `AND`, `OR`, `)`, or the actions.
    After,
    /// Where an action item starts: an action keyword, a field, `,`.
    ActionItem,
    /// After an action's field: an assignment, or the next item.
    ActionAssign { start: usize, end: usize },
}

struct Scanner<'a> {
    registry: &'static FieldRegistry,
    /// Words already looked up, with the suggestion for unknown ones: a text repeating one
    /// misspelling pays for its suggestion once.
    lookups: HashMap<Box<str>, Result<(), Option<String>>>,
    /// Words already judged for whether they read as an operator.
    operator_like: HashMap<Box<str>, bool>,
    kind: ExpressionKind,
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// The action keyword in force, as the grammar's builder tracks it.
    current_action: Option<ActionKind>,
    diags: Vec<Diagnostic>,
}

/// Every unknown field, operator and keyword in `source`, in source order, each once.
///
/// This is the pass [`validate`](crate::validate) runs when the grammar rejects a text, so that
/// one syntax error does not hide the other mistakes. It does not need the text to parse, and it
/// only looks at names: types, regexes, helpers and captures are checked by `validate` on text
/// that parses. It reports nothing for an expression `validate` accepts. Its work is linear in
/// the length of the text.
///
/// ```
/// use tvarr_expr::{scan_unknown_names, Domain, ExpressionKind};
/// let source = r#"chanel_name contians "x" ANDD grup == 1"#;
/// let found: Vec<_> = scan_unknown_names(Domain::Stream, ExpressionKind::Filter, source)
///     .into_iter()
///     .map(|d| (&source[d.start..d.end], d.suggestion.unwrap_or_default()))
///     .collect();
/// assert_eq!(found, [
///     ("chanel_name", "channel_name".to_string()),
///     ("contians", "contains".to_string()),
///     ("ANDD", "AND".to_string()),
///     ("grup", "group_title".to_string()),
/// ]);
/// ```
pub fn scan_unknown_names(
    domain: crate::Domain,
    kind: ExpressionKind,
    source: &str,
) -> Vec<Diagnostic> {
    scan(FieldRegistry::for_domain(domain), kind, source)
}

pub(crate) fn scan(
    registry: &'static FieldRegistry,
    kind: ExpressionKind,
    source: &str,
) -> Vec<Diagnostic> {
    let mut s = Scanner {
        registry,
        lookups: HashMap::new(),
        operator_like: HashMap::new(),
        kind,
        src: source,
        bytes: source.as_bytes(),
        pos: 0,
        current_action: None,
        diags: Vec::new(),
    };
    s.run();
    let mut diags = s.diags;
    // Already in source order; sorting is a guard, dedup the promise.
    diags.sort_by_key(|d| (d.start, d.end));
    diags.dedup_by(|a, b| a.start == b.start && a.end == b.end);
    diags
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Scanner<'a> {
    fn run(&mut self) {
        let mut state = State::Operand;
        loop {
            self.skip_ws();
            if self.pos >= self.bytes.len() {
                if let State::ActionAssign { start, end } = state {
                    self.action_assign(start, end);
                }
                return;
            }
            let before = (self.pos, state);
            state = match state {
                State::Operand => self.operand(),
                State::Operator => self.operator(),
                State::Value { then_actions, mode } => self.value(then_actions, mode),
                State::After => self.after(),
                State::ActionItem => self.action_item(),
                State::ActionAssign { start, end } => self.action_assign(start, end),
            };
            // A state may hand over without consuming, but never back to itself: a guard
            // against a loop that would not end.
            if (self.pos, state) == before {
                self.skip_token();
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn skip_ws_from(&self, mut i: usize) -> usize {
        while self.at(i).is_some_and(is_ws) {
            i += 1;
        }
        i
    }

    /// The length of the identifier at `i`: a letter or `_`, then identifier characters, and
    /// `-` or `.` only when an identifier character follows.
    fn ident_len(&self, i: usize) -> usize {
        if !self.at(i).is_some_and(is_ident_start) {
            return 0;
        }
        let mut j = i + 1;
        loop {
            match self.at(j) {
                Some(b) if is_ident_char(b) => j += 1,
                Some(b'-' | b'.') if self.at(j + 1).is_some_and(is_ident_char) => j += 2,
                _ => return j - i,
            }
        }
    }

    /// Whether the case-insensitive `word` stands at `i` and is not followed by an identifier
    /// character.
    fn word_at(&self, i: usize, word: &str) -> bool {
        let end = i + word.len();
        self.bytes
            .get(i..end)
            .is_some_and(|b| b.eq_ignore_ascii_case(word.as_bytes()))
            && !self.at(end).is_some_and(is_ident_char)
    }

    fn keyword_at(&self, i: usize) -> Option<(Keyword, usize)> {
        KEYWORD_TABLE
            .iter()
            .find(|(w, _)| self.word_at(i, w))
            .map(|(w, k)| (*k, w.len()))
    }

    fn symbol_op_at(&self, i: usize) -> Option<usize> {
        let rest = self.bytes.get(i..)?;
        SYMBOL_OPS
            .iter()
            .find(|op| rest.starts_with(op.as_bytes()))
            .map(|op| op.len())
    }

    /// An assignment at `i` (`?=`, `+=`, `-=`, or `=` not followed by `=` or `~`), with the
    /// action kind it implies.
    fn assign_at(&self, i: usize) -> Option<(usize, Option<ActionKind>)> {
        let rest = self.bytes.get(i..)?;
        if rest.starts_with(b"?=") {
            Some((2, Some(ActionKind::SetIfEmpty)))
        } else if rest.starts_with(b"+=") {
            Some((2, Some(ActionKind::Append)))
        } else if rest.starts_with(b"-=") {
            Some((2, Some(ActionKind::Remove)))
        } else if rest.first() == Some(&b'=') && !matches!(rest.get(1), Some(b'=' | b'~')) {
            Some((1, None))
        } else {
            None
        }
    }

    fn is_operator_word(word: &str) -> bool {
        OPERATOR_WORDS
            .iter()
            .any(|(w, _, _)| w.eq_ignore_ascii_case(word))
    }

    /// Whether what follows `i` (after whitespace and `NOT` / `case_sensitive` modifiers) reads
    /// as an operator or an assignment, so the word before it is a field.
    fn operator_follows(&mut self, i: usize) -> bool {
        let mut j = self.skip_ws_from(i);
        loop {
            if self.word_at(j, "not") {
                j = self.skip_ws_from(j + 3);
            } else if self.word_at(j, "case_sensitive") {
                j = self.skip_ws_from(j + "case_sensitive".len());
            } else {
                break;
            }
        }
        if self.symbol_op_at(j).is_some() || self.assign_at(j).is_some() {
            return true;
        }
        if self.keyword_at(j).is_some() {
            return false;
        }
        let len = self.ident_len(j);
        if len == 0 {
            return false;
        }
        let src: &'a str = self.src;
        let word = &src[j..j + len];
        if let Some(&like) = self.operator_like.get(word) {
            return like;
        }
        let like = Self::is_operator_word(word) || nearest(word, operator_names()).is_some();
        self.operator_like.insert(word.into(), like);
        like
    }

    /// Consumes one token without judging it: a string, a regex-looking run, a word, a run of
    /// symbols, or one other character.
    fn skip_token(&mut self) {
        let Some(b) = self.peek() else { return };
        if b == b'"' || b == b'\'' {
            self.pos = self.string_end(self.pos);
        } else if is_ident_start(b) {
            self.pos += self.ident_len(self.pos);
        } else if SYMBOL_CHARS.contains(&b) || b == b'&' || b == b'|' {
            while self
                .peek()
                .is_some_and(|c| SYMBOL_CHARS.contains(&c) || c == b'&' || c == b'|')
            {
                self.pos += 1;
            }
        } else if b.is_ascii() {
            self.pos += 1;
        } else {
            let len = self.src[self.pos..]
                .chars()
                .next()
                .map_or(1, char::len_utf8);
            self.pos += len;
        }
    }

    /// The end (exclusive) of the quoted string starting at `i`; the end of input if it is
    /// never closed.
    fn string_end(&self, i: usize) -> usize {
        let quote = self.bytes[i];
        let mut j = i + 1;
        while let Some(b) = self.at(j) {
            if b == b'\\' {
                j += 2;
            } else if b == quote {
                return j + 1;
            } else {
                j += 1;
            }
        }
        self.bytes.len()
    }

    /// The end of the `/regex/` literal at `i`, if the grammar would read one there.
    fn regex_end(&self, i: usize) -> Option<usize> {
        let mut j = i + 1;
        while let Some(b) = self.at(j) {
            match b {
                b'\\' => j += 2,
                b'\n' => return None,
                b'/' if j > i + 1 => return Some(j + 1),
                b'/' => return None,
                _ => j += 1,
            }
        }
        None
    }

    /// The end of a bare value starting at `i`.
    fn bare_end(&self, i: usize) -> usize {
        let mut j = i;
        while let Some(b) = self.at(j) {
            if is_ws(b) || matches!(b, b'"' | b'\'' | b'(' | b')' | b',') {
                break;
            }
            j += 1;
        }
        j
    }

    /// Whether the word at `start..end` is a field; if not, the nearest field's name.
    fn lookup(&mut self, start: usize, end: usize) -> Result<(), Option<String>> {
        let src: &'a str = self.src;
        self.lookup_name(&src[start..end])
    }

    fn lookup_name(&mut self, word: &str) -> Result<(), Option<String>> {
        if let Some(known) = self.lookups.get(word) {
            return known.clone();
        }
        let known = self.registry.resolve(word).map(|_| ());
        self.lookups.insert(word.into(), known.clone());
        known
    }

    fn is_field(&mut self, start: usize, end: usize) -> bool {
        self.lookup(start, end).is_ok()
    }

    fn unknown_field(&mut self, start: usize, end: usize) {
        if let Err(suggestion) = self.lookup(start, end) {
            let word = &self.src[start..end];
            self.diags
                .push(Diagnostic::unknown_field(word, start, end, suggestion));
        }
    }

    fn unknown_keyword(&mut self, start: usize, end: usize, suggestion: String) {
        let word = &self.src[start..end];
        self.diags.push(
            Diagnostic::new(
                K::UnknownKeyword,
                format!("unknown keyword `{word}`"),
                start,
                end,
            )
            .with_suggestion(Some(suggestion)),
        );
    }

    fn unknown_operator(&mut self, start: usize, end: usize, suggestion: Option<String>) {
        let text = &self.src[start..end];
        self.diags.push(
            Diagnostic::new(
                K::UnknownOperator,
                format!("unknown operator `{text}`"),
                start,
                end,
            )
            .with_suggestion(suggestion),
        );
    }

    fn is_rule(&self) -> bool {
        self.kind == ExpressionKind::Rule
    }

    /// The state after a keyword that is well placed only between or before conditions.
    fn after_keyword(&mut self, keyword: Keyword, len: usize) -> State {
        self.pos += len;
        match keyword {
            Keyword::Action(kind) => {
                self.current_action = Some(kind);
                State::ActionItem
            }
            Keyword::And | Keyword::Or | Keyword::Not => {
                self.current_action = None;
                State::Operand
            }
        }
    }

    /// The state a misspelt keyword stands for.
    fn misspelt_keyword(&mut self, start: usize, end: usize, keyword: String) -> State {
        self.pos = end;
        let state = if ACTION_KEYWORDS.contains(&keyword.as_str()) {
            State::ActionItem
        } else {
            self.current_action = None;
            State::Operand
        };
        self.unknown_keyword(start, end, keyword);
        state
    }

    fn operand(&mut self) -> State {
        let i = self.pos;
        let Some(b) = self.peek() else {
            return State::Operand;
        };
        match b {
            b'(' => {
                self.pos += 1;
                return State::Operand;
            }
            b')' => {
                self.pos += 1;
                return State::After;
            }
            b'!' if !matches!(self.at(i + 1), Some(b'=' | b'~')) => {
                self.pos += 1;
                return State::Operand;
            }
            _ => {}
        }
        if let Some((keyword, len)) = self.keyword_at(i) {
            return self.after_keyword(keyword, len);
        }
        if self.word_at(i, "true") || self.word_at(i, "false") {
            self.pos += if self.word_at(i, "true") { 4 } else { 5 };
            return State::After;
        }
        if self.word_at(i, "case_sensitive") {
            self.pos += "case_sensitive".len();
            return State::Operand;
        }
        let len = self.ident_len(i);
        if len == 0 {
            // Not something a condition can start with: leave it to the syntax error.
            self.skip_token();
            return State::Operand;
        }
        let end = i + len;
        let word = &self.src[i..end];
        if !self.is_field(i, end) && !self.operator_follows(end) {
            let candidates = if self.is_rule() {
                NOT_AND_ACTIONS
            } else {
                NOT_ONLY
            };
            if let Some(keyword) = nearest(word, candidates.iter().copied()) {
                return self.misspelt_keyword(i, end, keyword);
            }
        }
        self.unknown_field(i, end);
        self.pos = end;
        State::Operator
    }

    fn operator(&mut self) -> State {
        let i = self.pos;
        if self.word_at(i, "not") {
            self.pos += 3;
            return State::Operator;
        }
        if self.word_at(i, "case_sensitive") {
            self.pos += "case_sensitive".len();
            return State::Operator;
        }
        let condition_value = State::Value {
            then_actions: false,
            mode: ValueMode::Pattern,
        };
        if let Some(len) = self.symbol_op_at(i) {
            self.pos += len;
            return condition_value;
        }
        if self.is_rule()
            && let Some((len, implied)) = self.assign_at(i)
        {
            self.pos += len;
            return self.action_value(implied);
        }
        if let Some((keyword, len)) = self.keyword_at(i) {
            // A field with no operator; the syntax error says so.
            return self.after_keyword(keyword, len);
        }
        let len = self.ident_len(i);
        if len > 0 {
            let word = &self.src[i..i + len];
            if !Self::is_operator_word(word) {
                let suggestion = nearest(word, operator_names());
                self.unknown_operator(i, i + len, suggestion);
            }
            self.pos += len;
            return condition_value;
        }
        match self.peek() {
            Some(b) if SYMBOL_CHARS.contains(&b) => {
                let start = i;
                while self.peek().is_some_and(|c| SYMBOL_CHARS.contains(&c)) {
                    self.pos += 1;
                }
                let text = &self.src[start..self.pos];
                let suggestion = SYMBOL_FIXES
                    .iter()
                    .find(|(wrong, _)| *wrong == text)
                    .map(|(_, right)| (*right).to_string());
                self.unknown_operator(start, self.pos, suggestion);
                condition_value
            }
            // No operator at all (a value, a parenthesis): let the value state judge it.
            _ => condition_value,
        }
    }

    /// The value state of an action whose assignment implies `implied` (or the keyword in force).
    fn action_value(&mut self, implied: Option<ActionKind>) -> State {
        let kind = implied.or(self.current_action).unwrap_or(ActionKind::Set);
        let mode = if kind == ActionKind::Remove {
            ValueMode::Pattern
        } else {
            ValueMode::Template
        };
        State::Value {
            then_actions: true,
            mode,
        }
    }

    fn value(&mut self, then_actions: bool, mode: ValueMode) -> State {
        let i = self.pos;
        let next = if then_actions {
            State::ActionItem
        } else {
            State::After
        };
        let Some(b) = self.peek() else { return next };
        match b {
            b'"' | b'\'' => {
                let end = self.string_end(i);
                if mode == ValueMode::Template {
                    let inner_end = if end > i + 1 && self.at(end - 1) == Some(b) {
                        end - 1
                    } else {
                        end
                    };
                    self.template_fields(i + 1, inner_end.max(i + 1));
                }
                self.pos = end;
                next
            }
            b'(' | b')' | b',' => next,
            _ => {
                if b == b'/'
                    && let Some(end) = self.regex_end(i)
                {
                    self.pos = end;
                    return next;
                }
                if self.keyword_at(i).is_some() {
                    return next;
                }
                let end = self.bare_end(i);
                if mode == ValueMode::Template {
                    self.template_fields(i, end);
                }
                self.pos = end;
                next
            }
        }
    }

    /// Unknown `$field` and `${field}` references in an action value's text.
    fn template_fields(&mut self, start: usize, end: usize) {
        let raw = &self.src[start..end];
        if !raw.contains('$') {
            return;
        }
        for part in decode(raw, start, ValueMode::Template) {
            if let ValuePart::Field(name) = part
                && let Err(suggestion) = self.lookup_name(&name.text)
            {
                self.diags.push(Diagnostic::unknown_field(
                    &name.text,
                    name.span.start,
                    name.span.end,
                    suggestion,
                ));
            }
        }
    }

    fn after(&mut self) -> State {
        let i = self.pos;
        let Some(b) = self.peek() else {
            return State::After;
        };
        match b {
            b')' => {
                self.pos += 1;
                return State::After;
            }
            b'(' | b',' | b'!' => {
                self.pos += 1;
                self.current_action = None;
                return State::Operand;
            }
            b'&' if self.at(i + 1) == Some(b'&') => {
                self.pos += 2;
                return State::Operand;
            }
            b'|' if self.at(i + 1) == Some(b'|') => {
                self.pos += 2;
                return State::Operand;
            }
            _ => {}
        }
        if let Some((keyword, len)) = self.keyword_at(i) {
            return self.after_keyword(keyword, len);
        }
        if self.word_at(i, "case_sensitive") {
            // A new comparison without a connective; the syntax error says so.
            self.pos += "case_sensitive".len();
            return State::Operand;
        }
        let len = self.ident_len(i);
        if len == 0 {
            self.skip_token();
            return State::After;
        }
        let end = i + len;
        let word = &self.src[i..end];
        if self.is_field(i, end) || self.operator_follows(end) {
            // A field: an implicit first action in a rule, or a missing connective.
            self.unknown_field(i, end);
            self.pos = end;
            return State::Operator;
        }
        let candidates = if self.is_rule() {
            CONNECTIVES_AND_ACTIONS
        } else {
            CONNECTIVES
        };
        if let Some(keyword) = nearest(word, candidates.iter().copied()) {
            return self.misspelt_keyword(i, end, keyword);
        }
        // A stray word; the syntax error covers it.
        self.pos = end;
        State::After
    }

    fn action_item(&mut self) -> State {
        let i = self.pos;
        let Some(b) = self.peek() else {
            return State::ActionItem;
        };
        match b {
            b',' => {
                self.pos += 1;
                return State::ActionItem;
            }
            b')' => {
                self.pos += 1;
                return State::After;
            }
            b'(' => {
                self.pos += 1;
                self.current_action = None;
                return State::Operand;
            }
            _ => {}
        }
        if let Some((keyword, len)) = self.keyword_at(i) {
            return self.after_keyword(keyword, len);
        }
        let len = self.ident_len(i);
        if len == 0 {
            self.skip_token();
            return State::ActionItem;
        }
        self.pos = i + len;
        State::ActionAssign {
            start: i,
            end: i + len,
        }
    }

    fn action_assign(&mut self, start: usize, end: usize) -> State {
        let i = self.pos;
        if let Some((len, implied)) = self.assign_at(i) {
            self.unknown_field(start, end);
            self.pos += len;
            return self.action_value(implied);
        }
        // A field without a value: right after DELETE, a misspelt keyword, or a missing value.
        if !self.is_field(start, end) {
            let word = &self.src[start..end];
            let keyword = if self.current_action == Some(ActionKind::Delete) {
                None
            } else {
                nearest(word, ACTION_KEYWORDS.iter().copied())
            };
            match keyword {
                Some(keyword) => self.unknown_keyword(start, end, keyword),
                None => self.unknown_field(start, end),
            }
        }
        State::ActionItem
    }
}

fn operator_names() -> impl Iterator<Item = &'static str> {
    OPERATOR_WORDS.iter().map(|(w, _, _)| *w)
}
