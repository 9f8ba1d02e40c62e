using System.Text;
using DreamBooth.Tests.IO;
using DreamBooth.Tests.Tokenization;
using DreamBooth.Tokenization;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Corpus;

/// <summary>
/// Broken tokenizer folders (<c>ClipTokenizer.FromPretrained</c>): malformed vocab.json, merges.txt and configs, and
/// files far larger than any tokenizer (a 2 GB vocab.json, a 40 MB merges.txt, a million-token vocabulary).
/// </summary>
public class TokenizerCorpusTests
{
    /// <summary>A tokenizer folder in a corpus folder, changed by <paramref name="edit"/>; returns the tokenizer folder.</summary>
    private static string Folder(TempDir dir, Action<string> edit)
    {
        using var tiny = TinyTokenizerFolder.Create();
        var folder = dir.File("tokenizer");
        Directory.CreateDirectory(folder);
        foreach (var f in Directory.GetFiles(tiny.Dir)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        edit(folder);
        File.WriteAllText(dir.File("out", "keep.txt"), "untouched");
        return folder;
    }

    private static Action Load(string folder) => () => ClipTokenizer.FromPretrained(folder);

    public static TheoryData<string, string, string, string[]> Cases => new()
    {
        { "vocab.json missing", "vocab.json", "<delete>", ["vocab.json: file not found"] },
        { "merges.txt missing", "merges.txt", "<delete>", ["merges.txt: file not found"] },
        { "a merge line with three symbols", "merges.txt", "#version: 0.2\nt h\nth e </w>\n", ["merges.txt: line 3: expected two symbols"] },
        { "a token id that is a string", "vocab.json", "{\"!\": 0,\n\"a\": \"x\"}", ["vocab.json: token 'a' has id 'x', expected a non-negative integer (line 2)"] },
        { "a negative token id", "vocab.json", "{\"!\": -1}", ["vocab.json: token '!' has id -1"] },
        { "vocab.json with a lone surrogate", "vocab.json", "{\"\\ud800\": 0}", ["vocab.json", "lone UTF-16 surrogate"] },
        { "model_max_length of the wrong type", "tokenizer_config.json", "{\"model_max_length\": \"77\"}", ["tokenizer_config.json", "key 'model_max_length'"] },
        { "model_max_length too large", "tokenizer_config.json", "{\"model_max_length\": 100000000}", ["tokenizer_config.json: model_max_length 100000000 is out of range"] },
        { "a pad token missing from the vocabulary", "tokenizer_config.json", "{\"pad_token\": \"<pad>\"}", ["vocab.json: pad_token '<pad>' is not in the vocabulary"] },
        { "tokenizer_config nested 100 levels", "tokenizer_config.json", "{\"x\": " + new string('[', 100) + new string(']', 100) + "}", ["tokenizer_config.json", "nested deeper than 16 levels"] },
        { "special_tokens_map with a number for a token", "special_tokens_map.json", "{\"eos_token\": 7}", ["special_tokens_map.json", "eos_token"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Broken_tokenizer_file(string name, string file, string content, string[] mentions)
    {
        using var dir = new TempDir();
        var folder = Folder(dir, f =>
        {
            if (content == "<delete>") File.Delete(Path.Combine(f, file));
            else File.WriteAllText(Path.Combine(f, file), content);
        });
        Corpus.FailsCase(name, dir, Load(folder), [folder, .. mentions]);
    }

    [Theory]
    [InlineData("vocab.json", 2L << 30)]
    [InlineData("merges.txt", 40L << 20)]
    public void Huge_tokenizer_files_are_refused_before_reading(string file, long size)
    {
        using var dir = new TempDir();
        var folder = Folder(dir, f =>
        {
            using var fs = new FileStream(Path.Combine(f, file), FileMode.Open);
            fs.SetLength(size); // sparse: costs no disk and no memory
        });
        var allocated = new Allocated();
        Corpus.Fails(dir, allocated.Measure(Load(folder)), Path.Combine(folder, file), $"{size} bytes is too large for a tokenizer file (limit {ClipBpe.MaxFileBytes})");
        allocated.Bytes.Should().BeLessThan(4 << 20, "the small vocab.json is read, the huge file never");
    }

    [Fact]
    public void A_vocabulary_of_more_than_a_million_tokens()
    {
        using var dir = new TempDir();
        var folder = Folder(dir, f =>
        {
            var sb = new StringBuilder("{");
            for (int i = 0; i <= ClipBpe.MaxVocabSize; i++) sb.Append(i == 0 ? "" : ",").Append('"').Append(i).Append("\":").Append(i);
            File.WriteAllText(Path.Combine(f, "vocab.json"), sb.Append('}').ToString());
        });
        Corpus.Fails(dir, Load(folder), Path.Combine(folder, "vocab.json"), $"more than {ClipBpe.MaxVocabSize} tokens");
    }
}
