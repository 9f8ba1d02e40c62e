using System.Globalization;
using System.Text;

namespace DreamBooth.Tokenization;

/// <summary>
/// The text clean-up of transformers' slow CLIPTokenizer when ftfy is not installed (the common case): a BERT-style
/// BasicTokenizer with <c>strip_accents=False, do_split_on_punc=False</c>. In order: drop NUL, U+FFFD and every
/// control/format/unassigned/private-use character (so a zero-width space joins its neighbours); turn whitespace into
/// spaces; put spaces around CJK ideographs; NFC; split on whitespace; lower-case each word (Python's <c>str.lower</c>,
/// accents kept); join with single spaces. It does not HTML-unescape and does not straighten quotes.
/// Categories come from .NET's Unicode tables; upstream's come from its Python's (3.11: Unicode 14), so the two differ
/// only on characters assigned after Unicode 14, which Python 3.11 drops as unassigned.
/// </summary>
internal static class ClipTextCleaner
{
    /// <summary>Cleans one piece of text (a stretch between added tokens) into space-separated lower-case words.</summary>
    public static string Clean(string text)
    {
        var sb = new StringBuilder(text.Length + 8);
        foreach (var rune in text.EnumerateRunes()) // a lone surrogate enumerates as U+FFFD, which is dropped like Python drops Cs
        {
            int cp = rune.Value;
            if (cp == 0 || cp == 0xFFFD || IsControl(rune)) continue;
            if (IsWhitespace(rune)) sb.Append(' ');
            else if (IsCjkIdeograph(cp)) sb.Append(' ').Append(rune.ToString()).Append(' ');
            else sb.Append(rune.ToString());
        }
        var normalized = sb.ToString().Normalize(NormalizationForm.FormC);
        var words = PythonText.Split(normalized);
        for (int i = 0; i < words.Count; i++) words[i] = PythonText.Lower(words[i]);
        return string.Join(' ', words);
    }

    /// <summary>BERT's <c>_is_whitespace</c>: space, tab, newline, carriage return, or category Zs.</summary>
    private static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    /// <summary>BERT's <c>_is_control</c>: any category C* (Cc, Cf, Cs, Co, Cn) except tab, newline and carriage return.</summary>
    private static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    /// <summary>BERT's <c>_is_chinese_char</c>: the CJK Unified Ideographs blocks and their extensions/compatibility blocks.</summary>
    private static bool IsCjkIdeograph(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF) or (>= 0x2A700 and <= 0x2B73F)
            or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
