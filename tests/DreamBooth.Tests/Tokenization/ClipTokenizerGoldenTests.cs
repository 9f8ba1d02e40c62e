using System.Text.Json;
using DreamBooth.Tests.Infrastructure;
using DreamBooth.Tokenization;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Tokenization;

/// <summary>
/// transformers' slow CLIPTokenizer (no ftfy) against the fixtures: every prompt of outputs/tokenizer_cases.json with the
/// SD1 (pad = eos) and SD2 (pad = "!") tokenizer folders, and the batched tensors of outputs/tokenizer.safetensors.
/// Exact equality throughout.
/// </summary>
[Trait("Category", Golden.Category)]
public class ClipTokenizerGoldenTests
{
    private static readonly Lazy<ClipTokenizer> Sd1 = new(() => ClipTokenizer.FromPretrained(Golden.PathOf("tiny-sd1", "tokenizer")));
    private static readonly Lazy<ClipTokenizer> Sd2 = new(() => ClipTokenizer.FromPretrained(Golden.PathOf("tiny-sd2", "tokenizer")));

    private static JsonElement Fixture => Golden.Json("outputs", "tokenizer_cases.json").RootElement;

    private static List<JsonElement> Cases() => Fixture.GetProperty("cases").EnumerateArray().ToList();

    private static int[] Ints(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetInt32()).ToArray();

    [Fact]
    public void Vocabulary_and_merge_counts_match_the_fixture_description()
    {
        var info = Fixture.GetProperty("tokenizer");
        foreach (var tokenizer in new[] { Sd1.Value, Sd2.Value })
        {
            tokenizer.VocabSize.Should().Be(info.GetProperty("vocab_size").GetInt32());
            tokenizer.MergeCount.Should().Be(info.GetProperty("n_merges").GetInt32());
        }
    }

    [Fact]
    public void Every_prompt_tokenizes_and_encodes_exactly_like_transformers()
    {
        var cases = Cases();
        cases.Should().NotBeEmpty();
        var failures = new List<string>();
        foreach (var c in cases)
        {
            string prompt = c.GetProperty("prompt").GetString()!;
            string shown = JsonSerializer.Serialize(prompt);
            var sd1 = Sd1.Value.Encode(prompt);
            var sd2 = Sd2.Value.Encode(prompt);

            var bpe = c.GetProperty("bpe_tokens").EnumerateArray().Select(x => x.GetString()!).ToArray();
            Check(Sd1.Value.Tokenize(prompt), bpe, "bpe_tokens");
            Check(sd1.UntruncatedIds, Ints(c, "ids_untruncated"), "ids_untruncated");
            Check(new[] { sd1.UntruncatedCount }, new[] { c.GetProperty("n_untruncated").GetInt32() }, "n_untruncated");
            Check(new[] { sd1.Truncated }, new[] { c.GetProperty("truncated").GetBoolean() }, "truncated");
            Check(sd1.InputIds, Ints(c, "input_ids_sd1"), "input_ids_sd1");
            Check(sd1.AttentionMask, Ints(c, "attention_mask"), "attention_mask");
            Check(sd2.InputIds, Ints(c, "input_ids_sd2"), "input_ids_sd2");

            void Check<T>(IEnumerable<T> actual, IEnumerable<T> expected, string what)
            {
                if (!actual.SequenceEqual(expected))
                    failures.Add($"{shown} {what}: got [{string.Join(", ", actual)}], expected [{string.Join(", ", expected)}]");
            }
        }
        failures.Should().BeEmpty();
    }

    [Fact]
    public void Batched_tensors_equal_tokenizer_safetensors()
    {
        var prompts = Cases().Select(c => c.GetProperty("prompt").GetString()!).ToList();
        using var scope = NewDisposeScope();
        var expected = Golden.Outputs("tokenizer");
        var (ids1, mask) = Sd1.Value.EncodeBatchWithMask(prompts);
        var ids2 = Sd2.Value.EncodeBatch(prompts);
        foreach (var (name, actual) in new[] { ("input_ids_sd1", ids1), ("input_ids_sd2", ids2), ("attention_mask", mask) })
        {
            var want = expected[name];
            actual.dtype.Should().Be(want.dtype, name);
            actual.shape.Should().Equal(want.shape, name);
            long mismatches = actual.ne(want).sum().item<long>();
            mismatches.Should().Be(0, $"{name} must equal the fixture exactly");
        }
    }

    [Fact]
    public void Truncated_fixture_prompts_report_how_many_tokens_were_dropped()
    {
        var truncated = Cases().Where(c => c.GetProperty("truncated").GetBoolean()).ToList();
        truncated.Should().NotBeEmpty("the fixture has long prompts");
        foreach (var c in truncated)
        {
            var warnings = new List<string>();
            var encoded = Sd1.Value.Encode(c.GetProperty("prompt").GetString()!, warnings.Add);
            int dropped = c.GetProperty("n_untruncated").GetInt32() - c.GetProperty("input_ids_sd1").GetArrayLength();
            encoded.DroppedTokens.Should().Be(dropped);
            warnings.Should().ContainSingle().Which.Should().Contain($"{dropped} token(s) dropped");
            encoded.TruncationWarning.Should().Be(warnings[0]);
        }
    }
}
