using DreamBooth.IO;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.IO;

/// <summary>Sharded checkpoints: an index.json weight_map over shard files, read as one checkpoint and validated.</summary>
public class SafetensorsShardedTests
{
    private const string Index = "diffusion_pytorch_model.safetensors.index.json";
    private const string Shard1 = "diffusion_pytorch_model-00001-of-00002.safetensors";
    private const string Shard2 = "diffusion_pytorch_model-00002-of-00002.safetensors";

    /// <summary>Writes shard1 {a, b} and shard2 {c} and an index; <paramref name="map"/> overrides the weight_map JSON.</summary>
    private static string Write(TempDir dir, string? map = null, bool bInBoth = false)
    {
        using var a = arange(4, ScalarType.Float32);
        using var b = ones(2, 3);
        using var c = tensor(new long[] { 5, 6 });
        Safetensors.Save(dir.File(Shard1), new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b }, new Dictionary<string, string> { ["format"] = "pt" });
        var second = new Dictionary<string, Tensor> { ["c"] = c };
        if (bInBoth) second["b"] = b;
        Safetensors.Save(dir.File(Shard2), second);
        map ??= $"{{\"a\":\"{Shard1}\",\"b\":\"{Shard1}\",\"c\":\"{Shard2}\"}}";
        return dir.Text(Index, $"{{\"metadata\":{{\"total_size\":56}},\"weight_map\":{map}}}");
    }

    private static string Fails(string indexPath, string startsWith)
    {
        var act = () => Safetensors.OpenSharded(indexPath).Dispose();
        var message = act.Should().Throw<DreamBoothException>().Which.Message;
        message.Should().StartWith(startsWith + ": ").And.NotContain("\n");
        return message;
    }

    [Fact]
    public void All_shards_load_as_one_checkpoint()
    {
        using var dir = new TempDir();
        var index = Write(dir);
        using var reader = Safetensors.OpenSharded(index);
        reader.Path.Should().Be(index);
        reader.Files.Select(Path.GetFileName).Should().Equal(Shard1, Shard2);
        reader.Entries.Keys.Should().Equal("a", "b", "c");
        reader.Metadata.Should().Contain("format", "pt");
        var all = reader.LoadAll();
        try
        {
            all["a"].data<float>().ToArray().Should().Equal(0, 1, 2, 3);
            all["b"].shape.Should().Equal(2, 3);
            all["c"].data<long>().ToArray().Should().Equal(5, 6);
        }
        finally
        {
            foreach (var t in all.Values) t.Dispose();
        }
    }

    [Fact]
    public void Missing_shard()
    {
        using var dir = new TempDir();
        var index = Write(dir);
        File.Delete(dir.File(Shard2));
        Fails(index, index).Should().Contain($"shard '{Shard2}' (holding 'c') not found");
    }

    [Fact]
    public void Tensor_in_two_shards()
    {
        using var dir = new TempDir();
        var index = Write(dir, bInBoth: true);
        Fails(index, index).Should().Contain($"tensor 'b' is in two shards, '{Shard1}' and '{Shard2}'");
    }

    [Fact]
    public void Tensor_listed_twice_in_weight_map()
    {
        using var dir = new TempDir();
        var index = Write(dir, $"{{\"a\":\"{Shard1}\",\"b\":\"{Shard1}\",\"c\":\"{Shard2}\",\"b\":\"{Shard2}\"}}");
        Fails(index, index).Should().Contain("tensor 'b' is listed twice in weight_map");
    }

    [Fact]
    public void Weight_map_naming_the_wrong_shard()
    {
        using var dir = new TempDir();
        var index = Write(dir, $"{{\"a\":\"{Shard1}\",\"b\":\"{Shard2}\",\"c\":\"{Shard2}\"}}");
        Fails(index, index).Should().Contain($"weight_map puts tensor 'b' in '{Shard2}' but shard '{Shard1}' holds it");
    }

    [Fact]
    public void Shard_tensor_missing_from_weight_map()
    {
        using var dir = new TempDir();
        var index = Write(dir, $"{{\"a\":\"{Shard1}\",\"c\":\"{Shard2}\"}}");
        var shard = Path.Combine(dir.Path, Shard1);
        Fails(index, shard).Should().Contain("tensor 'b' is not listed in the index weight_map");
    }

    [Fact]
    public void Weight_map_entry_the_shard_does_not_hold()
    {
        using var dir = new TempDir();
        var index = Write(dir, $"{{\"a\":\"{Shard1}\",\"b\":\"{Shard1}\",\"c\":\"{Shard2}\",\"d\":\"{Shard2}\"}}");
        Fails(index, index).Should().Contain($"weight_map puts tensor 'd' in shard '{Shard2}', which does not hold it");
    }

    [Fact]
    public void Truncated_shard_names_the_shard_file_and_tensor()
    {
        using var dir = new TempDir();
        var index = Write(dir);
        var shard = Path.Combine(dir.Path, Shard1);
        using (var fs = new FileStream(shard, FileMode.Open)) fs.SetLength(fs.Length - 1);
        Fails(index, shard).Should().Contain("tensor 'b'").And.Contain("truncated?");
    }

    [Theory]
    [InlineData("{\"a\":\"../outside.safetensors\"}", "is not a plain file name")]
    [InlineData("{\"a\":\"/etc/passwd.safetensors\"}", "is not a plain file name")]
    [InlineData("{\"a\":\"..\"}", "is not a plain file name")]
    [InlineData("{\"a\":\"shard.bin\"}", "is not a .safetensors file")]
    [InlineData("{\"a\":5}", "weight_map entry 'a' is not a file name string")]
    [InlineData("{}", "'weight_map' is empty")]
    [InlineData("[\"a\"]", "'weight_map' is not an object")]
    public void Invalid_weight_map(string map, string mention)
    {
        using var dir = new TempDir();
        var index = Write(dir, map);
        Fails(index, index).Should().Contain("invalid sharded-checkpoint index").And.Contain(mention);
    }

    [Theory]
    [InlineData("{\"metadata\":{}}", "missing key 'weight_map'")]
    [InlineData("[1]", "not a JSON object")]
    [InlineData("{\"weight_map\":", "not valid JSON")]
    public void Invalid_index_file(string json, string mention)
    {
        using var dir = new TempDir();
        var index = dir.Text(Index, json);
        Fails(index, index).Should().Contain(mention);
    }
}
