using System.Text.Json;
using DreamBooth.TinyWorld;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.TinyWorld;

/// <summary>
/// The tiny world's tokenizer files: CLIP's format and the single-token property, checked by running CLIP's BPE
/// algorithm (<see cref="ClipBpeHelper"/>; MERGE NOTE: switch to the real ClipTokenizer from branch `tokenizer`).
/// </summary>
public sealed class VocabularyTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tw-vocab-" + Guid.NewGuid().ToString("N"));
    private readonly TinyWorldVocabulary _vocabulary = TinyWorldVocabulary.Build();
    private readonly ClipBpeHelper _bpe;

    public VocabularyTests()
    {
        _vocabulary.Write(_dir);
        _bpe = new ClipBpeHelper(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Every_caption_word_encodes_to_exactly_one_token()
    {
        foreach (var word in Captioner.Words)
            _bpe.Tokens(word).Should().Equal(new[] { word + "</w>" }, $"'{word}' must be one token");
    }

    [Fact]
    public void Every_rare_token_is_one_token_and_never_occurs_in_pretraining_captions()
    {
        foreach (var rare in TinyWorldVocabulary.RareTokens)
        {
            _bpe.Tokens(rare).Should().Equal(new[] { rare + "</w>" });
            Captioner.Words.Should().NotContain(rare);
        }
        var dataset = new TinyWorldDataset(seed: 3);
        Enumerable.Range(0, 5000).SelectMany(i => dataset.Example(i).Text.Split(' ')).Distinct()
            .Should().NotIntersectWith(TinyWorldVocabulary.RareTokens);
        // DreamBooth prompts stay one token per word.
        _bpe.Tokens("a photo of sks dog on the beach").Should().HaveCount(8);
    }

    [Fact]
    public void Captions_fit_the_model_max_length_with_one_token_per_word()
    {
        var dataset = new TinyWorldDataset(seed: 4, pretraining: false);
        int longest = 0;
        var bad = new List<string>();
        for (int i = 0; i < 3000; i++)
        {
            var ex = dataset.Example(i);
            foreach (var text in new[] { ex.Text, Captioner.Describe(ex.Scene).ToString() })
            {
                var ids = _bpe.Encode(text);
                if (ids.Count != text.Split(' ').Length) bad.Add(text);
                longest = Math.Max(longest, ids.Count + 2);
            }
        }
        bad.Should().BeEmpty("every word is one token");
        longest.Should().BeLessThanOrEqualTo(TinyWorldVocabulary.ModelMaxLength);
    }

    [Fact]
    public void Files_follow_clips_layout()
    {
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Path.Combine(_dir, "vocab.json")))!;
        var merges = File.ReadAllText(Path.Combine(_dir, "merges.txt")).Split('\n');
        merges[0].Should().Be("#version: 0.2");
        int mergeCount = merges.Skip(1).Count(l => l.Length > 0);
        vocab.Should().HaveCount(512 + mergeCount + 2, "256 bytes, 256 bytes with </w>, one token per merge, two specials");
        vocab.Values.Should().OnlyHaveUniqueItems().And.BeEquivalentTo(Enumerable.Range(0, vocab.Count));
        vocab["<|startoftext|>"].Should().Be(vocab.Count - 2).And.Be(_vocabulary.BosTokenId);
        vocab["<|endoftext|>"].Should().Be(vocab.Count - 1).And.Be(_vocabulary.EosTokenId);
        // Each merge's concatenation is the token with id 512 + rank.
        var byId = vocab.ToDictionary(kv => kv.Value, kv => kv.Key);
        var lines = merges.Skip(1).Where(l => l.Length > 0).ToList();
        for (int r = 0; r < lines.Count; r++) byId[512 + r].Should().Be(lines[r].Replace(" ", ""));

        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "tokenizer_config.json"))).RootElement;
        config.GetProperty("model_max_length").GetInt32().Should().Be(TinyWorldVocabulary.ModelMaxLength);
        config.GetProperty("pad_token").GetString().Should().Be("<|endoftext|>");
        config.GetProperty("tokenizer_class").GetString().Should().Be("CLIPTokenizer");
        var special = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "special_tokens_map.json"))).RootElement;
        special.GetProperty("pad_token").GetString().Should().Be("<|endoftext|>");
    }

    [Fact]
    public void Writing_is_deterministic()
    {
        var other = Path.Combine(Path.GetTempPath(), "tw-vocab2-" + Guid.NewGuid().ToString("N"));
        try
        {
            TinyWorldVocabulary.Build().Write(other);
            foreach (var f in new[] { "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json" })
                File.ReadAllBytes(Path.Combine(other, f)).Should().Equal(File.ReadAllBytes(Path.Combine(_dir, f)), f);
        }
        finally { Directory.Delete(other, true); }
    }

    [Fact]
    [Trait("Category", Golden.Category)]
    public void Byte_level_alphabet_and_the_bpe_helper_match_clip()
    {
        var golden = Golden.PathOf("tiny-sd1", "tokenizer");
        var theirs = JsonDocument.Parse(File.ReadAllText(Path.Combine(golden, "vocab.json"))).RootElement.EnumerateObject().Take(512).Select(p => (p.Name, p.Value.GetInt32())).ToList();
        var ours = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "vocab.json"))).RootElement.EnumerateObject().Take(512).Select(p => (p.Name, p.Value.GetInt32())).ToList();
        ours.Should().Equal(theirs);

        // The helper reproduces transformers' tokenize() on the fixture's plain-ASCII prompts.
        var helper = new ClipBpeHelper(golden);
        int checkedCases = 0;
        foreach (var c in Golden.Json("outputs", "tokenizer_cases.json").RootElement.GetProperty("cases").EnumerateArray())
        {
            var prompt = c.GetProperty("prompt").GetString()!;
            if (prompt.Length == 0 || prompt.Any(ch => ch > 127 || (char.IsControl(ch) && ch != ' ')) || prompt.Contains('&') || prompt.Contains("<|")) continue;
            helper.Tokens(prompt).Should().Equal(c.GetProperty("bpe_tokens").EnumerateArray().Select(t => t.GetString()), prompt);
            checkedCases++;
        }
        checkedCases.Should().BeGreaterThan(5);
    }
}
