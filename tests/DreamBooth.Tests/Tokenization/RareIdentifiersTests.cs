using DreamBooth.Cli;
using DreamBooth.TinyWorld;
using DreamBooth.Tests.Infrastructure;
using DreamBooth.Tokenization;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Tokenization;

public sealed class RareIdentifiersTests
{
    /// <summary>The golden tiny-sd1 tokenizer is the real CLIP vocabulary (49408 tokens).</summary>
    private static readonly Lazy<ClipTokenizer> Clip = new(() => ClipTokenizer.FromPretrained(Golden.PathOf("tiny-sd1", "tokenizer")));

    [Fact]
    public void RealClipVocabulary_SuggestsRareShortSingleTokenWords_RarestFirst()
    {
        var tokenizer = Clip.Value;
        var suggestions = RareIdentifiers.Suggest(tokenizer, 20);
        suggestions.Should().HaveCount(20);
        foreach (var s in suggestions)
        {
            s.Text.Length.Should().BeInRange(RareIdentifiers.MinLetters, RareIdentifiers.MaxLetters);
            s.Text.Should().MatchRegex("^[a-z]+$");
            tokenizer.EncodeTokens(s.Text).Should().Equal([s.TokenId], $"'{s.Text}' must be exactly one token");
            tokenizer.EncodeTokens($"a photo of {s.Text} dog").Should().HaveCount(5, "the identifier stays one token inside a prompt");
            ShortWordLists.Common.Should().NotContain(s.Text);
            ShortWordLists.Offensive.Should().NotContain(s.Text);
            s.TokenId.Should().BeGreaterThan(tokenizer.VocabSize / 2, "from the rare end of the vocabulary");
        }
        suggestions.Select(s => s.TokenId).Should().BeInDescendingOrder();
        suggestions.Select(s => s.Rarity).Should().BeInAscendingOrder();
    }

    [Fact]
    public void RealClipVocabulary_PoolSkipsCommonWordsAndMultiTokenEntries()
    {
        var pool = RareIdentifiers.Pool(Clip.Value).Select(c => c.Text).ToHashSet();
        pool.Should().NotContain(["dog", "the", "fck", "jap"]);
        pool.Should().Contain("sks", "the identifier of the diffusers examples is a rare CLIP token");
        pool.Count.Should().BeGreaterThan(500);
    }

    [Fact]
    public void Seed_SamplesTheSamePoolReproducibly()
    {
        var a = RareIdentifiers.Suggest(Clip.Value, 8, seed: 4);
        var b = RareIdentifiers.Suggest(Clip.Value, 8, seed: 4);
        var c = RareIdentifiers.Suggest(Clip.Value, 8, seed: 5);
        a.Should().Equal(b);
        a.Should().NotEqual(c);
        var pool = RareIdentifiers.Pool(Clip.Value).ToHashSet();
        a.Should().OnlyContain(x => pool.Contains(x));
        a.Should().NotEqual(RareIdentifiers.Suggest(Clip.Value, 8), "a seed samples uniformly instead of taking the rarest");
    }

    [Fact]
    public void TinyWorldVocabulary_SuggestsExactlyTheRareTokens_WhenCaptionWordsAreExcluded()
    {
        var dir = Directory.CreateTempSubdirectory("tw-tok-").FullName;
        try
        {
            TinyWorldVocabulary.Build().Write(dir);
            var tokenizer = ClipTokenizer.FromPretrained(dir);
            var suggestions = RareIdentifiers.Suggest(tokenizer, 100, new HashSet<string>(Captioner.Words));
            suggestions.Select(s => s.Text).Should().BeEquivalentTo(TinyWorldVocabulary.RareTokens);
            suggestions[0].Rarity.Should().Be(0, "the last rare token is the vocabulary's last merge");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BadCount_FailsNamingTheFlag()
    {
        var act = () => RareIdentifiers.Suggest(Clip.Value, 0);
        act.Should().Throw<DreamBoothException>().WithMessage("--count:*");
    }

    [Fact]
    public void Cli_ListsIdentifiersForAModelFolder_AndRejectsAFolderWithoutTokenizer()
    {
        CliApp.Create().Run(["identifiers", "--model", Golden.PathOf("tiny-sd1"), "--count", "3"]).Should().Be(0);
        var empty = Directory.CreateTempSubdirectory("no-tok-").FullName;
        try
        {
            var act = () => CliApp.Create().Run(["identifiers", "--model", empty]);
            act.Should().Throw<DreamBoothException>().WithMessage("*no tokenizer found*");
        }
        finally
        {
            Directory.Delete(empty);
        }
    }
}
