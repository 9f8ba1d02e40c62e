using System.Buffers;
using System.Globalization;
using System.Text;

namespace DreamBooth.Tokenization;

/// <summary>
/// Splits cleaned text into the pieces that BPE encodes one by one, like CLIP's pattern (with IGNORECASE)
/// <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
/// under <c>re.findall</c>: at each position the first alternative that matches wins, and whitespace is skipped.
/// Written as a scanner over code points rather than a .NET <see cref="System.Text.RegularExpressions.Regex"/> because
/// .NET's \p{L} and \p{N} test UTF-16 units, so letters and digits outside the BMP (𝐀, 𐐷, 𝟙) would split differently.
/// </summary>
internal static class ClipPreTokenizer
{
    private static readonly string[] SpecialLiterals = ["<|startoftext|>", "<|endoftext|>"];
    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    /// <summary>The pieces of <paramref name="text"/>, in order.</summary>
    public static List<string> Split(string text)
    {
        var pieces = new List<string>();
        int i = 0;
        while (i < text.Length)
        {
            int len = MatchAt(text, i);
            if (len > 0)
            {
                pieces.Add(text.Substring(i, len));
                i += len;
            }
            else i += RuneAt(text, i).Utf16SequenceLength; // whitespace: no alternative matches here
        }
        return pieces;
    }

    /// <summary>Length (UTF-16 units) of the match starting at <paramref name="start"/>, or 0 at whitespace.</summary>
    private static int MatchAt(string text, int start)
    {
        foreach (var literal in SpecialLiterals)
            if (MatchesIgnoreCase(text, start, literal)) return literal.Length;
        foreach (var literal in Contractions)
            if (MatchesIgnoreCase(text, start, literal)) return literal.Length;

        var first = RuneAt(text, start);
        if (IsLetter(first))
        {
            int i = start;
            while (i < text.Length && RuneAt(text, i) is var r && IsLetter(r)) i += r.Utf16SequenceLength;
            return i - start;
        }
        if (IsNumber(first)) return first.Utf16SequenceLength;
        if (!IsRegexSpace(first.Value))
        {
            int i = start;
            while (i < text.Length && RuneAt(text, i) is var r && !IsLetter(r) && !IsNumber(r) && !IsRegexSpace(r.Value))
                i += r.Utf16SequenceLength;
            return i - start;
        }
        return 0;
    }

    /// <summary>
    /// Case-insensitive literal match with the regex module's simple case folding; for these ASCII literals that is
    /// ASCII case plus U+017F (long s), which folds to 's'.
    /// </summary>
    private static bool MatchesIgnoreCase(string text, int start, string literal)
    {
        if (start + literal.Length > text.Length) return false;
        for (int k = 0; k < literal.Length; k++)
        {
            char c = text[start + k];
            char folded = c is >= 'A' and <= 'Z' ? (char)(c + 32) : c == '\u017F' ? 's' : c;
            if (folded != literal[k]) return false;
        }
        return true;
    }

    private static Rune RuneAt(string text, int index) =>
        Rune.DecodeFromUtf16(text.AsSpan(index), out var rune, out _) == OperationStatus.Done ? rune : Rune.ReplacementChar;

    private static bool IsLetter(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
        or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;

    private static bool IsNumber(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.DecimalDigitNumber
        or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;

    /// <summary>The regex module's <c>\s</c>: the Unicode White_Space property.</summary>
    private static bool IsRegexSpace(int cp) => cp is (>= 0x09 and <= 0x0D) or 0x20 or 0x85 or 0xA0 or 0x1680
        or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;
}
