using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace DreamBooth.Tests.TinyWorld;

/// <summary>
/// A minimal stand-in for CLIP's BPE tokenizer (transformers' slow CLIPTokenizer without ftfy, ASCII text only), used to
/// check the tiny world's vocabulary files while the real <c>ClipTokenizer</c> is written on branch `tokenizer`.
/// MERGE NOTE: when that branch lands, switch <see cref="VocabularyTests"/> to the real tokenizer and delete this file.
/// </summary>
internal sealed class ClipBpeHelper
{
    private static readonly Regex Pretokenize = new(@"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", RegexOptions.IgnoreCase);
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<(string, string), int> _ranks = new();
    private readonly string[] _byteToChar;

    public ClipBpeHelper(string tokenizerDir)
    {
        _vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Path.Combine(tokenizerDir, "vocab.json")))!;
        var lines = File.ReadAllText(Path.Combine(tokenizerDir, "merges.txt")).Trim().Split('\n');
        for (int i = 1; i < lines.Length; i++)
        {
            var pair = lines[i].Split(' ');
            _ranks[(pair[0], pair[1])] = i - 1;
        }
        // bytes_to_unicode, written out independently of the library's version.
        var bs = new List<int>();
        for (int b = '!'; b <= '~'; b++) bs.Add(b);
        for (int b = 0xA1; b <= 0xAC; b++) bs.Add(b);
        for (int b = 0xAE; b <= 0xFF; b++) bs.Add(b);
        _byteToChar = new string[256];
        foreach (var b in bs) _byteToChar[b] = ((char)b).ToString();
        int n = 0;
        for (int b = 0; b < 256; b++) if (!bs.Contains(b)) _byteToChar[b] = ((char)(256 + n++)).ToString();
    }

    public int Vocabulary => _vocab.Count;

    /// <summary>The BPE token strings of <paramref name="text"/> (like CLIPTokenizer.tokenize).</summary>
    public List<string> Tokens(string text)
    {
        text = Regex.Replace(text.Trim(), @"\s+", " ").ToLowerInvariant();
        var result = new List<string>();
        foreach (Match m in Pretokenize.Matches(text))
        {
            var chars = Encoding.UTF8.GetBytes(m.Value).Select(b => _byteToChar[b]).ToList();
            chars[^1] += "</w>";
            while (chars.Count > 1)
            {
                int best = int.MaxValue, at = -1;
                for (int i = 0; i + 1 < chars.Count; i++)
                    if (_ranks.TryGetValue((chars[i], chars[i + 1]), out var r) && r < best) { best = r; at = i; }
                if (at < 0) break;
                var (l, rr) = (chars[at], chars[at + 1]);
                var merged = new List<string>();
                for (int i = 0; i < chars.Count; i++)
                    if (i + 1 < chars.Count && chars[i] == l && chars[i + 1] == rr) { merged.Add(l + rr); i++; }
                    else merged.Add(chars[i]);
                chars = merged;
            }
            result.AddRange(chars);
        }
        return result;
    }

    /// <summary>Token ids of <paramref name="text"/> without bos/eos.</summary>
    public List<int> Encode(string text) => Tokens(text).Select(t => _vocab[t]).ToList();

    public int Id(string token) => _vocab[token];
}
