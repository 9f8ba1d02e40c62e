using DreamBooth.Tokenization;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Tokenization;

/// <summary>Behaviour of <see cref="ClipTokenizer"/> on small hand-made tokenizer folders.</summary>
public class ClipTokenizerTests
{
    private static string Config(string extra) => "{\"model_max_length\": 8" + (extra.Length > 0 ? ", " + extra : "") + "}";

    [Fact]
    public void Long_prompts_keep_bos_the_first_max_minus_2_tokens_and_eos_and_warn_how_many_were_dropped()
    {
        using var folder = TinyTokenizerFolder.Create(tokenizerConfig: Config(""));
        var tok = folder.Load();
        var warnings = new List<string>();

        var encoded = tok.Encode("a b c d e f g h i", warnings.Add);

        var letters = "abcdefghi".Select(c => folder.Vocab[c + "</w>"]).ToArray();
        encoded.InputIds.Should().Equal([tok.BosTokenId, .. letters[..6], tok.EosTokenId]);
        encoded.AttentionMask.Should().Equal(1, 1, 1, 1, 1, 1, 1, 1);
        encoded.UntruncatedIds.Should().Equal([tok.BosTokenId, .. letters, tok.EosTokenId]);
        encoded.UntruncatedCount.Should().Be(11);
        encoded.DroppedTokens.Should().Be(3);
        encoded.Truncated.Should().BeTrue();
        warnings.Should().ContainSingle().Which.Should().Contain("3 token(s) dropped").And.Contain("\"g h i\"").And.Contain("8 tokens").And.StartWith("text \"a b c d e f g h i\"");
        // A huge text is named by its start and the dropped part is cut short.
        var longWarnings = new List<string>();
        tok.Encode(string.Concat(Enumerable.Repeat("a b ", 2000)), longWarnings.Add);
        longWarnings.Should().ContainSingle().Which.Length.Should().BeLessThan(200);
        encoded.TruncationWarning.Should().Be(warnings[0]);
    }

    [Fact]
    public void Prompts_that_fit_are_padded_with_the_pad_id_and_do_not_warn()
    {
        using var folder = TinyTokenizerFolder.Create(tokenizerConfig: Config("\"pad_token\": \"!\""));
        var tok = folder.Load();
        var warnings = new List<string>();

        var encoded = tok.Encode("the dog", warnings.Add);

        tok.PadTokenId.Should().Be(folder.Vocab["!"]);
        encoded.InputIds.Should().Equal(tok.BosTokenId, folder.Vocab["the</w>"], folder.Vocab["dog</w>"], tok.EosTokenId,
            tok.PadTokenId, tok.PadTokenId, tok.PadTokenId, tok.PadTokenId);
        encoded.AttentionMask.Should().Equal(1, 1, 1, 1, 0, 0, 0, 0);
        encoded.DroppedTokens.Should().Be(0);
        encoded.TruncationWarning.Should().BeNull();
        warnings.Should().BeEmpty();
    }

    [Fact]
    public void An_exclamation_pad_token_is_split_out_of_the_text_like_sd2()
    {
        using var plain = TinyTokenizerFolder.Create();
        using var sd2 = TinyTokenizerFolder.Create(tokenizerConfig: """{"pad_token": {"__type": "AddedToken", "content": "!", "lstrip": false, "rstrip": false, "normalized": false, "single_word": false}}""");

        plain.Load().Tokenize("Dog!!").Should().Equal("dog</w>", "!", "!</w>");
        sd2.Load().Tokenize("Dog!!").Should().Equal("dog</w>", "!", "!");
        sd2.Load().EncodeTokens("Dog!!").Should().Equal(sd2.Vocab["dog</w>"], 0, 0);
    }

    [Fact]
    public void Special_tokens_map_overrides_tokenizer_config_and_the_unset_max_length_sentinel_means_77()
    {
        using var folder = TinyTokenizerFolder.Create(tokenizerConfig: """{"model_max_length": 1000000000000000019884624838656, "pad_token": "<|endoftext|>"}""");
        folder.Write(TokenizerConfig.SpecialTokensMapFileName, """{"pad_token": {"content": "!", "special": true}}""");

        var tok = folder.Load();

        tok.ModelMaxLength.Should().Be(ClipTokenizer.DefaultModelMaxLength);
        tok.PadTokenId.Should().Be(folder.Vocab["!"]);
        tok.Config.PadToken!.Content.Should().Be("!");
    }

    [Fact]
    public void Merges_apply_by_rank_left_to_right_with_the_end_of_word_suffix_on_the_last_byte()
    {
        using var rankedOw = TinyTokenizerFolder.Create(merges: ["o w</w>", "l o", "a a"]);
        using var rankedLo = TinyTokenizerFolder.Create(merges: ["l o", "o w</w>"]);

        rankedOw.Load().Tokenize("low").Should().Equal("l", "ow</w>");
        rankedLo.Load().Tokenize("low").Should().Equal("lo", "w</w>");
        rankedOw.Load().Tokenize("aaa").Should().Equal("aa", "a</w>");
        rankedOw.Load().Tokenize("é").Should().Equal("Ã", "©</w>"); // two UTF-8 bytes in the byte-level alphabet
    }

    [Fact]
    public void Tokens_missing_from_the_vocabulary_map_to_the_unk_id()
    {
        using var folder = TinyTokenizerFolder.Create(merges: ["x y</w>"], leaveOutOfVocab: ["xy</w>"]);
        var tok = folder.Load();

        tok.Tokenize("xy").Should().Equal("xy</w>");
        tok.EncodeTokens("xy").Should().Equal(tok.UnkTokenId);
    }

    [Fact]
    public void Added_tokens_from_added_tokens_decoder_split_out_and_honour_single_word()
    {
        const string config = """
            {"added_tokens_decoder": {
               "600": {"content": "<v>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false, "special": false},
               "601": {"content": "<w>", "single_word": true}}}
            """;
        using var folder = TinyTokenizerFolder.Create(tokenizerConfig: config);
        var tok = folder.Load();

        tok.EncodeTokens("a<v>dog").Should().Equal(folder.Vocab["a</w>"], 600, folder.Vocab["dog</w>"]);
        tok.Tokenize("a <w> b").Should().Equal("a</w>", "<w>", "b</w>");
        tok.Tokenize("a<w>b").Should().NotContain("<w>"); // not a whole word: stays text
        tok.IdToToken(600).Should().Be("<v>");
        tok.TokenToId("<v>").Should().Be(600);
        tok.Decode([tok.BosTokenId, folder.Vocab["a</w>"], 600, folder.Vocab["dog</w>"], tok.EosTokenId], skipSpecialTokens: true)
            .Should().Be("a <v> dog");
    }

    [Fact]
    public void Decode_reverses_byte_level_bpe_and_skips_special_tokens_on_request()
    {
        using var folder = TinyTokenizerFolder.Create();
        var tok = folder.Load();
        var encoded = tok.Encode("The dog, café… 日本!");

        tok.Decode(encoded.InputIds, skipSpecialTokens: true).Should().Be("the dog, café … 日 本!");
        tok.Decode(encoded.UntruncatedIds).Should().StartWith("<|startoftext|>the dog").And.EndWith("<|endoftext|>");
        var act = () => tok.Decode([int.MaxValue]);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Batches_are_int64_tensors_of_model_max_length_and_encoding_is_thread_safe()
    {
        using var folder = TinyTokenizerFolder.Create(tokenizerConfig: Config(""));
        var tok = folder.Load();
        var prompts = Enumerable.Range(0, 64).Select(i => $"the dog {i} {new string('x', i % 7)} ÄÖ {i * 7919}").ToList();
        var sequential = prompts.Select(p => tok.Encode(p).InputIds).ToList();

        var parallel = new int[prompts.Count][];
        Parallel.For(0, prompts.Count, i => parallel[i] = folder.Load().Encode(prompts[i]).InputIds);
        var shared = new int[prompts.Count][];
        Parallel.For(0, prompts.Count, i => shared[i] = tok.Encode(prompts[i]).InputIds);

        for (int i = 0; i < prompts.Count; i++)
        {
            parallel[i].Should().Equal(sequential[i]);
            shared[i].Should().Equal(sequential[i]);
        }
        using var scope = NewDisposeScope();
        var (ids, mask) = tok.EncodeBatchWithMask(prompts);
        ids.dtype.Should().Be(ScalarType.Int64);
        ids.shape.Should().Equal(prompts.Count, 8);
        mask.shape.Should().Equal(prompts.Count, 8);
        ids[5].data<long>().ToArray().Should().Equal(sequential[5].Select(x => (long)x));
        tok.EncodeBatch(prompts).eq(ids).all().item<bool>().Should().BeTrue();
    }

    public static TheoryData<string, string, string> BadFolders => new()
    {
        { "no vocab.json", "vocab.json", "file not found" },
        { "no merges.txt", "merges.txt", "file not found" },
        { "vocab.json not JSON", "vocab.json", "not valid JSON" },
        { "vocab.json id not an integer", "vocab.json", "token 'a' has id 'x', expected a non-negative integer (line 2)" },
        { "vocab.json is a list", "vocab.json", "expected a JSON object" },
        { "merges line with three symbols", "merges.txt", "line 3:" },
        { "merges line with one symbol", "merges.txt", "line 2:" },
        { "merges.txt with only a header", "merges.txt", "no merge rules" },
        { "vocab lacks eos", "vocab.json", "eos_token '<|endoftext|>' is not in the vocabulary" },
        { "pad token not in vocab", "vocab.json", "pad_token '<pad>'" },
        { "tokenizer_config.json not JSON", "tokenizer_config.json", "not valid JSON" },
        { "special token of the wrong type", "special_tokens_map.json", "bos_token" },
        { "model_max_length 1", "tokenizer_config.json", "model_max_length 1 is out of range" },
        { "added_tokens_decoder key not an id", "tokenizer_config.json", "'abc' is not a token id" },
    };

    [Theory]
    [MemberData(nameof(BadFolders))]
    public void Bad_tokenizer_files_give_one_line_naming_the_file(string broken, string file, string mentioned)
    {
        using var folder = TinyTokenizerFolder.Create(leaveOutOfVocab: broken == "vocab lacks eos" ? ["<|endoftext|>"] : null);
        switch (broken)
        {
            case "no vocab.json": folder.Delete("vocab.json"); break;
            case "no merges.txt": folder.Delete("merges.txt"); break;
            case "vocab.json not JSON": folder.Write("vocab.json", "{\"a\": 1,"); break;
            case "vocab.json id not an integer": folder.Write("vocab.json", "{\"!\": 0,\n\"a\": \"x\"}"); break;
            case "vocab.json is a list": folder.Write("vocab.json", "[\"a\", \"b\"]"); break;
            case "merges line with three symbols": folder.Write("merges.txt", "#version: 0.2\nt h\nth e </w>\n"); break;
            case "merges line with one symbol": folder.Write("merges.txt", "#version: 0.2\nth\n"); break;
            case "merges.txt with only a header": folder.Write("merges.txt", "#version: 0.2\n"); break;
            case "vocab lacks eos": break;
            case "pad token not in vocab": folder.Write("tokenizer_config.json", "{\"pad_token\": \"<pad>\"}"); break;
            case "tokenizer_config.json not JSON": folder.Write("tokenizer_config.json", "{\"model_max_length\": 77"); break;
            case "special token of the wrong type": folder.Write("special_tokens_map.json", "{\"bos_token\": 5}"); break;
            case "model_max_length 1": folder.Write("tokenizer_config.json", "{\"model_max_length\": 1}"); break;
            case "added_tokens_decoder key not an id": folder.Write("tokenizer_config.json", "{\"added_tokens_decoder\": {\"abc\": \"<x>\"}}"); break;
            default: throw new ArgumentException(broken);
        }

        var ex = folder.Invoking(f => f.Load()).Should().Throw<DreamBoothException>().Which;

        ex.Message.Should().NotContain("\n").And.Contain(file).And.Contain(mentioned);
    }

    [Fact]
    public void A_missing_tokenizer_folder_is_one_line_naming_it()
    {
        var dir = Path.Combine(Path.GetTempPath(), "no-such-tokenizer-" + Guid.NewGuid());
        var act = () => ClipTokenizer.FromPretrained(dir);
        act.Should().Throw<DreamBoothException>().Which.Message.Should().Contain(dir).And.NotContain("\n");
    }
}
