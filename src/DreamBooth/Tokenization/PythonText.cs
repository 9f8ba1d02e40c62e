using System.Globalization;
using System.Text;

namespace DreamBooth.Tokenization;

/// <summary>
/// The few Python <c>str</c> behaviours that transformers' tokenizer code relies on, reproduced over code points
/// (Python strings index code points, .NET strings UTF-16 units): <c>str.isspace</c> (what <c>split()</c> and
/// <c>strip()</c> use) and <c>str.lower()</c>, which is a full case mapping (İ → i̇, final Σ → ς) where .NET's
/// invariant lower-casing is a simple one.
/// </summary>
internal static class PythonText
{
    /// <summary>Python's <c>str.isspace()</c> for one code point: bidi class WS/B/S or category Zs.</summary>
    public static bool IsSpace(int cp) => cp switch
    {
        >= 0x09 and <= 0x0D => true,
        >= 0x1C and <= 0x20 => true,
        0x85 or 0xA0 or 0x1680 => true,
        >= 0x2000 and <= 0x200A => true,
        0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    /// <summary>Python's <c>str.strip()</c> (no arguments).</summary>
    public static string Strip(string s) => StripEnd(StripStart(s));

    /// <summary>Python's <c>str.lstrip()</c> (no arguments).</summary>
    public static string StripStart(string s)
    {
        int i = 0;
        while (i < s.Length && IsSpace(s[i])) i++; // every Python space is a BMP character
        return i == 0 ? s : s[i..];
    }

    /// <summary>Python's <c>str.rstrip()</c> (no arguments).</summary>
    public static string StripEnd(string s)
    {
        int j = s.Length;
        while (j > 0 && IsSpace(s[j - 1])) j--;
        return j == s.Length ? s : s[..j];
    }

    /// <summary>Python's <c>str.split()</c> (no arguments): runs of whitespace separate, empty pieces are dropped.</summary>
    public static List<string> Split(string s)
    {
        var parts = new List<string>();
        int start = -1;
        for (int i = 0; i < s.Length; i++)
        {
            if (IsSpace(s[i]))
            {
                if (start >= 0) { parts.Add(s[start..i]); start = -1; }
            }
            else if (start < 0) start = i;
        }
        if (start >= 0) parts.Add(s[start..]);
        return parts;
    }

    /// <summary>
    /// Python's <c>str.lower()</c>: the simple lower-case mapping per code point, except U+0130 (İ → "i\u0307", the one
    /// unconditional multi-character mapping) and capital sigma, which becomes final ς after a cased letter when no
    /// cased letter follows (Python's Final_Sigma rule, skipping case-ignorable characters both ways).
    /// </summary>
    public static string Lower(string s)
    {
        var runes = new List<Rune>(s.Length);
        foreach (var r in s.EnumerateRunes()) runes.Add(r);
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < runes.Count; i++)
        {
            int cp = runes[i].Value;
            if (cp == 0x0130) sb.Append("i\u0307");
            else if (cp == 0x03A3) sb.Append(IsFinalSigma(runes, i) ? '\u03C2' : '\u03C3');
            else if (cp < 0x80) sb.Append(cp is >= 'A' and <= 'Z' ? (char)(cp + 32) : (char)cp);
            else sb.Append(Rune.ToLowerInvariant(runes[i]).ToString());
        }
        return sb.ToString();
    }

    private static bool IsFinalSigma(List<Rune> runes, int at)
    {
        int j = at - 1;
        while (j >= 0 && IsCaseIgnorable(runes[j])) j--;
        if (j < 0 || !IsCased(runes[j])) return false;
        int k = at + 1;
        while (k < runes.Count && IsCaseIgnorable(runes[k])) k++;
        return k == runes.Count || !IsCased(runes[k]);
    }

    /// <summary>
    /// Unicode "Cased": upper/lower/title-case letters, characters with a case mapping, and the few Other_Lowercase /
    /// Other_Uppercase characters that have neither (ª, º, squared/negative-circled Latin capitals).
    /// </summary>
    private static bool IsCased(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
        || Rune.ToLowerInvariant(r) != r || Rune.ToUpperInvariant(r) != r
        || r.Value is 0xAA or 0xBA or (>= 0x1F130 and <= 0x1F149) or (>= 0x1F150 and <= 0x1F169) or (>= 0x1F170 and <= 0x1F189);

    /// <summary>Unicode "Case_Ignorable": marks, format characters, modifiers and word-internal punctuation.</summary>
    private static bool IsCaseIgnorable(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol
        || r.Value is '\'' or '.' or ':' or '^' or '`' or 0xB7 or 0x0387 or 0x055F or 0x05F4 or 0x2018 or 0x2019 or 0x2024
            or 0x2027 or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A;
}
