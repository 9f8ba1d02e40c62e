using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using DreamBooth.IO;

namespace DreamBooth.TinyWorld;

/// <summary>
/// The tiny world's tokenizer files in CLIP's format (read by the same BPE code as Stable Diffusion's tokenizer):
/// <c>vocab.json</c> = the 256 byte-level characters (GPT-2's bytes_to_unicode order), the same 256 with <c>&lt;/w&gt;</c>,
/// one token per merge, then <c>&lt;|startoftext|&gt;</c> and <c>&lt;|endoftext|&gt;</c>; <c>merges.txt</c> =
/// <c>#version: 0.2</c> and one merge per line. The merges are built so that every caption word and every
/// <see cref="RareTokens"/> entry encodes to exactly one token: words are added in order, and for each word the merges
/// that join whatever pieces the merges so far leave are appended. Later merges never change an earlier word's
/// encoding, because BPE always applies the lowest-ranked applicable merge and an earlier word always has one until
/// it is a single token. Rare tokens come last, at the rare end of the vocabulary, and never occur in captions.
/// </summary>
public sealed class TinyWorldVocabulary
{
    /// <summary>The tokenizer's model_max_length (bos + up to 30 tokens + eos); the longest world caption needs 19.</summary>
    public const int ModelMaxLength = 32;

    public const string StartOfText = "<|startoftext|>";
    public const string EndOfText = "<|endoftext|>";

    /// <summary>Identifier candidates: single tokens that no pretraining caption contains ("sks" is the paper's and diffusers' usual choice).</summary>
    public static IReadOnlyList<string> RareTokens { get; } = new[] { "sks", "zwx", "qtv", "vbk", "xjq", "pqz", "kzv", "wqx" };

    private TinyWorldVocabulary(IReadOnlyList<string> tokens, IReadOnlyList<(string Left, string Right)> merges)
    {
        Tokens = tokens;
        Merges = merges;
    }

    /// <summary>Token strings by id.</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>The merges in rank order.</summary>
    public IReadOnlyList<(string Left, string Right)> Merges { get; }

    public int VocabSize => Tokens.Count;
    public int BosTokenId => Tokens.Count - 2;
    public int EosTokenId => Tokens.Count - 1;

    /// <summary>The vocabulary for the world's caption words (<see cref="Captioner.Words"/>) and <see cref="RareTokens"/>.</summary>
    public static TinyWorldVocabulary Build() => Build(Captioner.Words, RareTokens);

    /// <summary>A vocabulary in which each of <paramref name="words"/>, then each of <paramref name="rare"/>, is one token.</summary>
    public static TinyWorldVocabulary Build(IEnumerable<string> words, IEnumerable<string> rare)
    {
        var alphabet = ByteLevelAlphabet();
        var tokens = new List<string>(alphabet);
        tokens.AddRange(alphabet.Select(c => c + "</w>"));
        var known = new HashSet<string>(tokens, StringComparer.Ordinal);
        var merges = new List<(string, string)>();
        var ranks = new Dictionary<(string, string), int>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var word in words.Concat(rare))
        {
            if (word.Length == 0 || !word.All(ch => ch is >= 'a' and <= 'z'))
                throw new ArgumentException($"vocabulary word '{word}' must be lowercase ASCII letters (one CLIP pre-token)");
            if (!seen.Add(word)) continue;
            var pieces = Bpe(word, ranks);
            if (pieces.Count == 1) continue;
            var joins = JoinWithoutDuplicates(pieces, known)
                ?? throw new InvalidOperationException($"cannot make '{word}' a single token without duplicating a vocabulary entry");
            foreach (var (l, r) in joins)
            {
                ranks[(l, r)] = merges.Count;
                merges.Add((l, r));
                tokens.Add(l + r);
                known.Add(l + r);
            }
        }
        tokens.Add(StartOfText);
        tokens.Add(EndOfText);
        return new TinyWorldVocabulary(tokens, merges);
    }

    /// <summary>
    /// Writes <c>vocab.json</c>, <c>merges.txt</c>, <c>tokenizer_config.json</c> and <c>special_tokens_map.json</c>
    /// (Stable Diffusion 1.x style: pad = unk = eos = &lt;|endoftext|&gt;, lower-casing, model_max_length 32) into
    /// <paramref name="dir"/>, each atomically.
    /// </summary>
    public void Write(string dir)
    {
        Directory.CreateDirectory(dir);
        var options = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        var vocab = new StringBuilder("{");
        for (int i = 0; i < Tokens.Count; i++)
            vocab.Append(i == 0 ? "" : ",").Append(JsonSerializer.Serialize(Tokens[i], options)).Append(':').Append(i);
        vocab.Append('}');
        AtomicFile.WriteAllText(Path.Combine(dir, "vocab.json"), vocab.ToString());
        var merges = new StringBuilder("#version: 0.2\n");
        foreach (var (l, r) in Merges) merges.Append(l).Append(' ').Append(r).Append('\n');
        AtomicFile.WriteAllText(Path.Combine(dir, "merges.txt"), merges.ToString());
        var indented = new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        var config = new SortedDictionary<string, object>(StringComparer.Ordinal)
        {
            ["add_prefix_space"] = false,
            ["bos_token"] = StartOfText,
            ["clean_up_tokenization_spaces"] = true,
            ["do_lower_case"] = true,
            ["eos_token"] = EndOfText,
            ["errors"] = "replace",
            ["model_max_length"] = ModelMaxLength,
            ["pad_token"] = EndOfText,
            ["tokenizer_class"] = "CLIPTokenizer",
            ["unk_token"] = EndOfText,
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), JsonSerializer.Serialize(config, indented) + "\n");
        var special = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["bos_token"] = StartOfText,
            ["eos_token"] = EndOfText,
            ["pad_token"] = EndOfText,
            ["unk_token"] = EndOfText,
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "special_tokens_map.json"), JsonSerializer.Serialize(special, indented) + "\n");
    }

    /// <summary>GPT-2/CLIP's bytes_to_unicode: printable bytes map to themselves, the others to U+0100 onwards; in vocabulary order.</summary>
    internal static IReadOnlyList<string> ByteLevelAlphabet()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToList();
        var chars = printable.Select(b => ((char)b).ToString()).ToList();
        int n = 0;
        for (int b = 0; b < 256; b++)
            if (!printable.Contains(b)) chars.Add(((char)(256 + n++)).ToString());
        return chars;
    }

    /// <summary>CLIP's BPE of one lowercase ASCII word: start from characters (the last with &lt;/w&gt;) and repeatedly join
    /// every occurrence of the lowest-ranked adjacent pair.</summary>
    internal static List<string> Bpe(string word, IReadOnlyDictionary<(string, string), int> ranks)
    {
        var parts = word.Select(ch => ch.ToString()).ToList();
        parts[^1] += "</w>";
        while (parts.Count > 1)
        {
            (string, string)? best = null;
            int bestRank = int.MaxValue;
            for (int i = 0; i + 1 < parts.Count; i++)
                if (ranks.TryGetValue((parts[i], parts[i + 1]), out int r) && r < bestRank) { bestRank = r; best = (parts[i], parts[i + 1]); }
            if (best is not { } pair) break;
            var next = new List<string>(parts.Count);
            for (int i = 0; i < parts.Count; i++)
            {
                if (i + 1 < parts.Count && parts[i] == pair.Item1 && parts[i + 1] == pair.Item2) { next.Add(pair.Item1 + pair.Item2); i++; }
                else next.Add(parts[i]);
            }
            parts = next;
        }
        return parts;
    }

    /// <summary>Merges that join <paramref name="pieces"/> into one token, left to right or else right to left, such that no
    /// merge creates a token string that already exists (CLIP's vocabulary has one distinct token per merge).</summary>
    private static List<(string, string)>? JoinWithoutDuplicates(List<string> pieces, HashSet<string> known)
    {
        var leftToRight = new List<(string, string)>();
        string acc = pieces[0];
        for (int i = 1; i < pieces.Count; i++) { leftToRight.Add((acc, pieces[i])); acc += pieces[i]; }
        var rightToLeft = new List<(string, string)>();
        acc = pieces[^1];
        for (int i = pieces.Count - 2; i >= 0; i--) { rightToLeft.Add((pieces[i], acc)); acc = pieces[i] + acc; }
        foreach (var candidate in new[] { leftToRight, rightToLeft })
            if (candidate.All(m => !known.Contains(m.Item1 + m.Item2))) return candidate;
        return null;
    }
}
