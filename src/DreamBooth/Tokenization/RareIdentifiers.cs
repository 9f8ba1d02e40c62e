using System.Text.RegularExpressions;

namespace DreamBooth.Tokenization;

/// <summary>A suggested identifier.</summary>
/// <param name="Text">The identifier as written in a prompt ("sks").</param>
/// <param name="TokenId">Its single token id.</param>
/// <param name="Token">The vocabulary entry ("sks&lt;/w&gt;").</param>
/// <param name="Rarity">Position from the rare end of the vocabulary among the regular (non-special) tokens: 0 = the rarest.</param>
public sealed record IdentifierCandidate(string Text, int TokenId, string Token, int Rarity);

/// <summary>
/// Rare-token identifiers, the DreamBooth paper's recipe (Ruiz et al. 2023, §3.2): a unique identifier should be a
/// token with a weak prior in both the language model and the diffusion model, so that fine-tuning can bind it to the
/// subject. The paper samples rare tokens of at most three characters and inverts them to text. With a BPE vocabulary,
/// the merge rank orders tokens by frequency (later merges are rarer), so the rare end is the highest ids. A candidate:
/// <list type="bullet">
/// <item>is a whole-word token of <see cref="MinLetters"/>–<see cref="MaxLetters"/> lowercase letters (<c>xyz&lt;/w&gt;</c>) in the rarer half of the vocabulary;</item>
/// <item>encodes, written alone, to exactly that one token with the model's own tokenizer (some vocabulary entries are
/// never produced by BPE);</item>
/// <item>is not a common English word or abbreviation, nor offensive (<see cref="ShortWordLists"/>), nor one of
/// <c>excludedWords</c> (e.g. every word of a model's training captions).</item>
/// </list>
/// Candidates are returned rarest first, or, with a seed, in a seeded uniform order over the same pool (the paper samples
/// uniformly from a rare range).
/// </summary>
public static partial class RareIdentifiers
{
    /// <summary>The longest identifier suggested (the paper: "3 or fewer characters").</summary>
    public const int MaxLetters = 3;

    /// <summary>The shortest identifier suggested: single letters are frequent tokens in real vocabularies (and initials in prompts).</summary>
    public const int MinLetters = 2;

    /// <summary>Suggests <paramref name="count"/> identifiers for <paramref name="tokenizer"/>.</summary>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="count">How many to return (fewer when the pool is smaller).</param>
    /// <param name="excludedWords">Words the identifier must not be (lowercase), e.g. the words of the training captions.</param>
    /// <param name="seed">Null: rarest first. Otherwise a seeded uniform shuffle of the candidate pool.</param>
    public static IReadOnlyList<IdentifierCandidate> Suggest(ClipTokenizer tokenizer, int count, IReadOnlySet<string>? excludedWords = null, long? seed = null)
    {
        if (count < 1) throw new DreamBoothException($"--count: {count} must be at least 1");
        var pool = Pool(tokenizer, excludedWords);
        if (seed is long s)
        {
            // SplitMix64 (TinyWorld.WorldRandom): a specified generator, so a seed names the same suggestions everywhere.
            var rng = TinyWorld.WorldRandom.For(s, 0, stream: 0x1D);
            for (int i = pool.Count - 1; i > 0; i--)
            {
                int j = rng.Below(i + 1);
                (pool[i], pool[j]) = (pool[j], pool[i]);
            }
        }
        return pool.Take(count).ToList();
    }

    /// <summary>Every candidate, rarest first.</summary>
    public static List<IdentifierCandidate> Pool(ClipTokenizer tokenizer, IReadOnlySet<string>? excludedWords = null)
    {
        var special = new HashSet<int> { tokenizer.BosTokenId, tokenizer.EosTokenId, tokenizer.PadTokenId, tokenizer.UnkTokenId };
        special.UnionWith(tokenizer.AddedTokens.Keys);
        var regular = tokenizer.Vocab.Where(kv => !special.Contains(kv.Value)).OrderByDescending(kv => kv.Value).ToList();
        var result = new List<IdentifierCandidate>();
        for (int rarity = 0; rarity < regular.Count / 2; rarity++)
        {
            var (token, id) = (regular[rarity].Key, regular[rarity].Value);
            var m = WholeWord().Match(token);
            if (!m.Success) continue;
            var text = m.Groups[1].Value;
            if (text.Length is < MinLetters or > MaxLetters) continue;
            if (ShortWordLists.Common.Contains(text) || ShortWordLists.Offensive.Contains(text)) continue;
            if (excludedWords is not null && excludedWords.Contains(text)) continue;
            var ids = tokenizer.EncodeTokens(text);
            if (ids.Count != 1 || ids[0] != id) continue;
            result.Add(new IdentifierCandidate(text, id, token, rarity));
        }
        return result;
    }

    [GeneratedRegex(@"^([a-z]+)</w>$")]
    private static partial Regex WholeWord();
}
