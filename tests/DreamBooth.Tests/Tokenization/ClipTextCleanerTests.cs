using DreamBooth.Tokenization;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Tokenization;

/// <summary>
/// The clean-up and pre-tokenizer pieces on inputs where Python and .NET string handling differ (values from
/// Python 3.11's str.lower / unicodedata and the regex module's behaviour).
/// </summary>
public class ClipTextCleanerTests
{
    [Theory]
    [InlineData("A  photo\tof\nSKS\r\n Dog", "a photo of sks dog")]
    [InlineData("a dog\u00A0with\u200Bzero", "a dog withzero")] // NBSP is whitespace (Zs); zero-width space is Cf: dropped
    [InlineData("x\u0000y\uFFFDz\u0007w\u000Bv", "xyzwv")] // NUL, U+FFFD and controls (VT too) are dropped
    [InlineData("日本語のテキスト", "日 本 語 のテキスト")] // spaces around CJK ideographs only, not kana
    [InlineData("Cafe\u0301 ÅNGSTRÖM", "café ångström")] // NFC, lower-case, accents kept
    [InlineData("Tom &amp; Jerry", "tom &amp; jerry")] // no HTML unescape
    [InlineData("ΟΔΟΣ ΣΟΦΟΣ Α'Σ ΣΑ", "οδος σοφος α'ς σα")] // Python's final-sigma rule, per word
    [InlineData("İstanbul", "i\u0307stanbul")] // Python's full lower-case mapping of U+0130
    [InlineData("line\u2028break", "line break")] // U+2028 is whitespace for Python's split()
    [InlineData("  ", "")]
    public void Clean_follows_transformers_basic_tokenizer(string input, string expected) =>
        ClipTextCleaner.Clean(input).Should().Be(expected);

    [Theory]
    [InlineData("a photo of sks dog", new[] { "a", "photo", "of", "sks", "dog" })]
    [InlineData("dog's !!'s 'sam", new[] { "dog", "'s", "!!'", "s", "'s", "am" })] // first matching alternative wins
    [InlineData("a<|endoftext|>b <|startoftext|>", new[] { "a", "<|endoftext|>", "b", "<|startoftext|>" })]
    [InlineData("<<|endoftext|>", new[] { "<<|", "endoftext", "|>" })]
    [InlineData("1234 3.14", new[] { "1", "2", "3", "4", "3", ".", "1", "4" })] // one digit per piece
    [InlineData("a\U0001D400b \U0001D7CF\U0001D7D0", new[] { "a\U0001D400b", "\U0001D7CF", "\U0001D7D0" })] // letters/digits beyond the BMP
    [InlineData("dog🐶🔥!", new[] { "dog", "🐶🔥!" })]
    [InlineData("'\u017Fx", new[] { "'\u017F", "x" })] // IGNORECASE: long s folds to s
    public void PreTokenizer_matches_clips_pattern_under_findall(string input, string[] expected) =>
        ClipPreTokenizer.Split(input).Should().Equal(expected);
}
