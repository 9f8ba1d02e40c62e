using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Tests.Models.Clip;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.IO.Pickle;

/// <summary>
/// The restricted unpickler on checkpoints written byte by byte like torch.save (zip and legacy layouts, every
/// storage type, views that share a storage), and on hostile pickles, which must be refused by name without running
/// anything.
/// </summary>
public class PickleCheckpointTests
{
    private static Dictionary<string, Tensor> Sample() => new()
    {
        ["conv.weight"] = arange(6, ScalarType.Float32).reshape(2, 3) / 7,
        ["conv.bias"] = tensor(new float[] { 0.5f, -1.25f }).to_type(ScalarType.Float16),
        ["norm.weight"] = tensor(new float[] { 1.5f, 2, -3 }).to_type(ScalarType.BFloat16),
        ["position_ids"] = arange(5, ScalarType.Int64).unsqueeze(0),
        ["mask"] = tensor(new[] { true, false, true }),
        ["scale"] = tensor(0.18215),
        ["i32"] = tensor(new[] { -7, 8 }),
        ["i8"] = tensor(new sbyte[] { -1, 2 }),
        ["u8"] = tensor(new byte[] { 255, 0 }),
        ["i16"] = tensor(new short[] { -300, 300 }),
    };

    private static string WriteFile(TempDir dir, string name, byte[] bytes)
    {
        var path = dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void AssertSameTensors(PickleCheckpoint checkpoint, Dictionary<string, Tensor> expected)
    {
        checkpoint.Entries.Keys.Should().Equal(expected.Keys);
        foreach (var (name, t) in expected)
        {
            var entry = checkpoint.Entries[name];
            entry.ScalarType.Should().Be(t.dtype, name);
            entry.Shape.Should().Equal(t.shape, name);
            using var loaded = checkpoint.Load(name);
            loaded.dtype.Should().Be(t.dtype);
            loaded.shape.Should().Equal(t.shape);
            loaded.bytes.ToArray().Should().Equal(t.contiguous().bytes.ToArray(), name);
        }
    }

    [Theory]
    [InlineData(TorchPickleWriter.Layout.OrderedDict)]
    [InlineData(TorchPickleWriter.Layout.ParameterDict)]
    [InlineData(TorchPickleWriter.Layout.NestedStateDict)]
    public void Zip_checkpoints_load_every_dtype_bit_exactly(TorchPickleWriter.Layout layout)
    {
        using var dir = new TempDir();
        var tensors = Sample();
        var path = WriteFile(dir, "model.bin", TorchPickleWriter.SaveZip(tensors, layout));
        using var checkpoint = PickleCheckpoint.Open(path);
        AssertSameTensors(checkpoint, tensors);
        checkpoint.Files.Should().Equal(path);
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void Legacy_checkpoints_load_bit_exactly()
    {
        using var dir = new TempDir();
        var tensors = Sample();
        var path = WriteFile(dir, "model.pt", TorchPickleWriter.SaveLegacy(tensors));
        using var checkpoint = PickleCheckpoint.Open(path);
        AssertSameTensors(checkpoint, tensors);
    }

    [Fact]
    public void Views_sharing_one_storage_with_offsets_and_strides_load_as_their_own_values()
    {
        using var dir = new TempDir();
        using var data = arange(12, ScalarType.Float32);
        var storage = new TorchPickleWriter.StorageRecord("0", "FloatStorage", 12, data.bytes.ToArray());
        TorchPickleWriter.TensorRecord[] records =
        [
            new("w", storage, 0, [3, 4], [4, 1]),
            new("w_t", storage, 0, [4, 3], [1, 4]),
            new("row", storage, 4, [4], [1]),
            new("every_other", storage, 1, [3, 2], [4, 2]),
        ];
        var path = WriteFile(dir, "views.bin", TorchPickleWriter.Zip(TorchPickleWriter.StateDictPickle(records), [storage]));
        using var checkpoint = PickleCheckpoint.Open(path);
        using var w = checkpoint.Load("w");
        using var wt = checkpoint.Load("w_t");
        using var row = checkpoint.Load("row");
        using var other = checkpoint.Load("every_other");
        w.data<float>().ToArray().Should().Equal(Enumerable.Range(0, 12).Select(i => (float)i));
        wt.eq(w.t()).all().item<bool>().Should().BeTrue();
        row.data<float>().ToArray().Should().Equal(4, 5, 6, 7);
        other.data<float>().ToArray().Should().Equal(1, 3, 5, 7, 9, 11);
        checkpoint.Entries["row"].Begin.Should().Be(16);
    }

    [Fact]
    public void Protocol_4_opcodes_stack_global_memoize_frame_and_an_archive_named_after_the_file()
    {
        using var dir = new TempDir();
        using var t = tensor(new float[] { 1, 2, 3 });
        var storage = new TorchPickleWriter.StorageRecord("0", "FloatStorage", 3, t.bytes.ToArray());
        var body = new PickleBuilder()
            .StackGlobal("collections", "OrderedDict").Memoize().EmptyTuple().Reduce().Memoize()
            .Str("w", shortForm: true).Memoize()
            .StackGlobal("torch._utils", "_rebuild_tensor_v2").Memoize()
            .Mark().Mark().Str("storage", shortForm: true).StackGlobal("torch", "FloatStorage").Str("0", true).Str("cpu", true).Int(3).Tuple().BinPersId()
            .Int(0).IntTuple([3]).IntTuple([1]).Bool(false).BinGet(0).EmptyTuple().Reduce().Tuple().Reduce()
            .SetItem().Stop().ToArray();
        var frame = new byte[9];
        frame[0] = 0x95;
        BitConverter.TryWriteBytes(frame.AsSpan(1), (ulong)body.Length);
        var pkl = new PickleBuilder().Proto(4).Raw(frame).Raw(body).ToArray();
        var path = WriteFile(dir, "p4.pth", TorchPickleWriter.Zip(pkl, [storage], archive: "p4"));
        using var checkpoint = PickleCheckpoint.Open(path);
        using var w = checkpoint.Load("w");
        w.data<float>().ToArray().Should().Equal(1, 2, 3);
    }

    [Fact]
    public void Load_converts_floating_point_tensors_and_keeps_integers()
    {
        using var dir = new TempDir();
        var path = WriteFile(dir, "model.bin", TorchPickleWriter.SaveZip(Sample()));
        using var checkpoint = PickleCheckpoint.Open(path);
        using var w = checkpoint.Load("conv.weight", ScalarType.BFloat16);
        using var ids = checkpoint.Load("position_ids", ScalarType.BFloat16);
        w.dtype.Should().Be(ScalarType.BFloat16);
        ids.dtype.Should().Be(ScalarType.Int64);
        var act = () => checkpoint.Load("nope");
        act.Should().Throw<DreamBoothException>().WithMessage($"{path}: no tensor named 'nope'");
    }

    // ---- hostile pickles: refused by name, nothing runs --------------------------------------------------------------

    /// <summary>(case, pickle bytes, texts the one-line message must contain). Each would write a marker file if run.</summary>
    public static TheoryData<string, byte[], string[]> Hostile(string marker) => new()
    {
        { "GLOBAL os.system + REDUCE", new PickleBuilder().Proto(2).Global("os", "system").Str($"touch {marker}").Op(0x85).Reduce().Stop().ToArray(), ["refusing pickle global 'os.system'"] },
        { "GLOBAL posix.system", new PickleBuilder().Proto(2).Global("posix", "system").Str($"touch {marker}").Op(0x85).Reduce().Stop().ToArray(), ["'posix.system'"] },
        { "STACK_GLOBAL builtins.eval", new PickleBuilder().Proto(4).StackGlobal("builtins", "eval").Str($"open('{marker}','w')").Op(0x85).Reduce().Stop().ToArray(), ["'builtins.eval'"] },
        { "builtins.exec inside a tensor's backward hooks", Tampered(hooks: p => p.Global("builtins", "exec").Str($"open('{marker}','w')").Op(0x85).Reduce()), ["'builtins.exec'"] },
        { "subprocess.Popen as a state dict value", new PickleBuilder().Proto(2).EmptyDict().Str("w").Global("subprocess", "Popen").Mark().Str("touch").Str(marker).Op((byte)'l').Op(0x85).Reduce().SetItem().Stop().ToArray(), ["'subprocess.Popen'"] },
        { "__reduce__ of torch.load", new PickleBuilder().Proto(2).Global("torch", "load").Str(marker).Op(0x85).Reduce().Stop().ToArray(), ["'torch.load'"] },
        { "a private torch function", new PickleBuilder().Proto(2).Global("torch._utils", "_rebuild_device_tensor_from_numpy").Stop().ToArray(), ["'torch._utils._rebuild_device_tensor_from_numpy'"] },
        { "INST os system", new PickleBuilder().Proto(2).Mark().Str($"touch {marker}").Op((byte)'i').Raw("os\nsystem\n"u8.ToArray()).Stop().ToArray(), ["refusing pickle opcode INST"] },
        { "NEWOBJ of an allowed class", new PickleBuilder().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Op(0x81).Stop().ToArray(), ["refusing pickle opcode NEWOBJ"] },
        { "OBJ", new PickleBuilder().Proto(2).Mark().Global("collections", "OrderedDict").Op((byte)'o').Stop().ToArray(), ["refusing pickle opcode OBJ"] },
        { "EXT1 (copyreg extension registry)", new PickleBuilder().Proto(2).Op(0x82).Op(1).Stop().ToArray(), ["refusing pickle opcode EXT1"] },
        { "calling a storage class", new PickleBuilder().Proto(2).Global("torch", "FloatStorage").Str(marker).Op(0x85).Reduce().Stop().ToArray(), ["refusing to call torch.FloatStorage"] },
        { "BUILD on a tensor (__setstate__)", Tampered(afterTensor: p => p.EmptyDict().Str("__class__").Str("os.system").SetItem().Build()), ["refusing to set the state of a tensor"] },
        { "REDUCE on a string", new PickleBuilder().Proto(2).Str("os.system").EmptyTuple().Reduce().Stop().ToArray(), ["refusing to call a string"] },
    };

    /// <summary>A valid one-tensor state dict with hostile opcodes in place of its backward hooks or after its tensor.</summary>
    private static byte[] Tampered(Action<PickleBuilder>? hooks = null, Action<PickleBuilder>? afterTensor = null)
    {
        var p = new PickleBuilder().Proto(2).EmptyDict().Str("w").Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Int(1).Tuple().BinPersId()
            .Int(0).IntTuple([1]).IntTuple([1]).Bool(false);
        if (hooks is not null) hooks(p);
        else p.Global("collections", "OrderedDict").EmptyTuple().Reduce();
        p.Tuple().Reduce();
        afterTensor?.Invoke(p);
        return TorchPickleWriter.Zip(p.SetItem().Stop().ToArray(), [new TorchPickleWriter.StorageRecord("0", "FloatStorage", 1, new byte[4])]);
    }

    [Fact]
    public void Hostile_pickles_are_refused_by_name_and_run_nothing()
    {
        using var dir = new TempDir();
        var marker = Path.Combine(dir.Path, "pwned");
        int n = 0;
        foreach (var row in Hostile(marker))
        {
            var (name, pickle, mentions) = ((string)row[0], (byte[])row[1], (string[])row[2]);
            // Raw pickles go into a zip as data.pkl, the way they would arrive inside a .bin; zips are used as they are.
            var bytes = pickle[0] == (byte)'P' ? pickle : TorchPickleWriter.Zip(pickle, []);
            foreach (var variant in new[] { bytes, pickle[0] == 0x80 ? pickle : null })
            {
                if (variant is null) continue;
                var path = WriteFile(dir, $"hostile-{n++}.bin", variant);
                var act = () => PickleCheckpoint.Open(path).Dispose();
                var message = act.Should().Throw<DreamBoothException>(name).Which.Message;
                message.Should().StartWith(path).And.NotContain("\n");
                if (variant == bytes) foreach (var m in mentions) message.Should().Contain(m, name);
            }
            File.Exists(marker).Should().BeFalse(name);
        }
        n.Should().BeGreaterThan(14);
    }

    // ---- malformed checkpoints --------------------------------------------------------------------------------------

    public static TheoryData<string, string> Malformed => new()
    {
        { "truncated data.pkl", "truncated pickle" },
        { "storage record shorter than numel", "holds 8 bytes but 3 F32 elements need 12" },
        { "view past the end of its storage", "reaches past the 2 elements of storage '0'" },
        { "state dict value that is not a tensor", "state dict entry 'step' is an integer, not a tensor" },
        { "checkpoint that is a list", "the checkpoint is a list, not a state dict" },
        { "missing storage record", "storage '7' has no record archive/data/7" },
        { "big-endian storages", "only little-endian checkpoints are read" },
        { "TorchScript archive", "is a TorchScript archive" },
        { "zip without data.pkl", "has no NAME/data.pkl record" },
        { "neither zip nor pickle", "not a PyTorch checkpoint (neither a zip archive nor a pickle)" },
        { "a 4 GB string claim", "truncated pickle: a length of 4294967295" },
        { "a huge LONG4", "integer of 1000000 bytes" },
        { "storage key with a path", "storage key '../../etc/passwd' is not a plain name" },
        { "one storage declared with two types", "storage '0' is declared twice with different types or sizes" },
        { "unknown storage class", "refusing pickle global 'torch.ComplexFloatStorage'" },
        { "pickle protocol 6", "unsupported pickle protocol 6" },
        { "stack underflow", "stack underflow" },
        { "legacy file truncated in its storages", "truncated: storage '0' needs 12 bytes" },
        { "legacy pickle without the magic number", "without torch.save's magic number" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_checkpoints_give_one_line_naming_the_file(string name, string mention)
    {
        using var dir = new TempDir();
        using var t = tensor(new float[] { 1, 2, 3 });
        var three = new TorchPickleWriter.StorageRecord("0", "FloatStorage", 3, t.bytes.ToArray());
        TorchPickleWriter.TensorRecord[] one = [new("w", three, 0, [3], [1])];
        byte[] Zip(byte[] pkl, params TorchPickleWriter.StorageRecord[] storages) => TorchPickleWriter.Zip(pkl, storages);
        var bytes = name switch
        {
            "truncated data.pkl" => Zip(TorchPickleWriter.StateDictPickle(one)[..^20], three),
            "storage record shorter than numel" => Zip(TorchPickleWriter.StateDictPickle(one), three with { Bytes = new byte[8] }),
            "view past the end of its storage" => Zip(TorchPickleWriter.StateDictPickle([new("w", three with { Numel = 2, Bytes = new byte[8] }, 1, [2], [1])]), three with { Numel = 2, Bytes = new byte[8] }),
            "state dict value that is not a tensor" => Zip(new PickleBuilder().Proto(2).EmptyDict().Str("step").Int(5).SetItem().Stop().ToArray()),
            "checkpoint that is a list" => Zip(new PickleBuilder().Proto(2).EmptyList().Stop().ToArray()),
            "missing storage record" => Zip(TorchPickleWriter.StateDictPickle([new("w", three with { Key = "7" }, 0, [3], [1])]), three),
            "big-endian storages" => TorchPickleWriter.Zip(TorchPickleWriter.StateDictPickle(one), [three], byteorder: "big"),
            "TorchScript archive" => WithExtraEntry(Zip(TorchPickleWriter.StateDictPickle(one), three), "archive/constants.pkl"),
            "zip without data.pkl" => TorchPickleWriter.Zip(TorchPickleWriter.StateDictPickle(one), [three], archive: "a/b"),
            "neither zip nor pickle" => "version https://git-lfs.github.com/spec/v1\n"u8.ToArray(),
            "a 4 GB string claim" => Zip(new PickleBuilder().Proto(2).Op((byte)'X').Raw(0xff, 0xff, 0xff, 0xff).Raw(new byte[16]).ToArray()),
            "a huge LONG4" => Zip(new PickleBuilder().Proto(2).Op(0x8b).Raw(0x40, 0x42, 0x0f, 0x00).Raw(new byte[1_000_000]).Stop().ToArray()),
            "storage key with a path" => Zip(TorchPickleWriter.StateDictPickle([new("w", three with { Key = "../../etc/passwd" }, 0, [3], [1])]), three),
            "one storage declared with two types" => Zip(TorchPickleWriter.StateDictPickle([new("w", three, 0, [3], [1]), new("v", three with { Class = "HalfStorage" }, 0, [3], [1])]), three),
            "unknown storage class" => Zip(TorchPickleWriter.StateDictPickle([new("w", three with { Class = "ComplexFloatStorage" }, 0, [3], [1])]), three),
            "pickle protocol 6" => Zip(new PickleBuilder().Proto(6).EmptyDict().Stop().ToArray()),
            "stack underflow" => Zip(new PickleBuilder().Proto(2).Mark().SetItem().Stop().ToArray()),
            "legacy file truncated in its storages" => TorchPickleWriter.Legacy(one)[..^4],
            "legacy pickle without the magic number" => new PickleBuilder().Proto(2).EmptyDict().Stop().ToArray(),
            _ => throw new ArgumentException(name),
        };
        var path = WriteFile(dir, "bad.bin", bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => PickleCheckpoint.Open(path).Dispose();
        var message = act.Should().Throw<DreamBoothException>().Which.Message;
        message.Should().StartWith(path).And.Contain(mention).And.NotContain("\n");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(16L * bytes.Length + (8 << 20), "nothing is allocated from a length the file only claims");
    }

    [Fact]
    public void A_zip_directory_claiming_a_2_GB_storage_is_refused_before_allocating()
    {
        using var dir = new TempDir();
        const long numel = 0x1FFFFFFF; // 2 GB of F32
        var storage = new TorchPickleWriter.StorageRecord("0", "FloatStorage", numel, new byte[16]);
        var zip = TorchPickleWriter.Zip(TorchPickleWriter.StateDictPickle([new("w", storage, 0, [numel], [1])]), [storage]);
        // Patch the sizes of archive/data/0 in the local header and the central directory to the 2 GB the pickle claims.
        var name = "archive/data/0"u8.ToArray();
        for (int i = 0; i + 46 < zip.Length; i++)
        {
            bool local = zip.AsSpan(i, 4).SequenceEqual(new byte[] { 0x50, 0x4b, 0x03, 0x04 }) && zip.AsSpan(i + 30, name.Length).SequenceEqual(name);
            bool central = zip.AsSpan(i, 4).SequenceEqual(new byte[] { 0x50, 0x4b, 0x01, 0x02 }) && zip.AsSpan(i + 46, name.Length).SequenceEqual(name);
            int at = local ? i + 18 : central ? i + 20 : -1;
            if (at < 0) continue;
            BitConverter.TryWriteBytes(zip.AsSpan(at, 4), (uint)(numel * 4));
            BitConverter.TryWriteBytes(zip.AsSpan(at + 4, 4), (uint)(numel * 4));
        }
        var path = WriteFile(dir, "forged.bin", zip);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => PickleCheckpoint.Open(path).Dispose();
        act.Should().Throw<DreamBoothException>().WithMessage($"{path}: record archive/data/0 claims {numel * 4} stored bytes but the file has *");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    private static byte[] WithExtraEntry(byte[] zip, string name)
    {
        using var ms = new MemoryStream();
        ms.Write(zip);
        using (var archive = new System.IO.Compression.ZipArchive(ms, System.IO.Compression.ZipArchiveMode.Update, leaveOpen: true))
            archive.CreateEntry(name);
        return ms.ToArray();
    }

    // ---- model folders ----------------------------------------------------------------------------------------------

    [Fact]
    public void A_component_with_only_a_bin_file_is_refused_by_default_and_loads_with_allow_pickle()
    {
        var config = TinyClip.Config();
        using var model = TinyClip.Randomize(new CLIPTextModel(config), seed: 3);
        var dir = TinyClip.WriteFolder(model, config);
        try
        {
            var safetensors = Path.Combine(dir, "model.safetensors");
            var tensors = Safetensors.LoadAll(safetensors);
            File.Delete(safetensors);
            var bin = Path.Combine(dir, "pytorch_model.bin");
            File.WriteAllBytes(bin, TorchPickleWriter.SaveZip(tensors));

            var refuse = () => ModelComponent.Open(dir);
            refuse.Should().Throw<DreamBoothException>().Which.Message.Should().StartWith(bin)
                .And.Contain("unpickling can execute arbitrary code").And.Contain("safe_serialization=True").And.Contain("--allow-pickle");

            var component = ModelComponent.Open(dir, new ModelFolderOptions(AllowPickle: true));
            component.Weights!.IsPickle.Should().BeTrue();
            component.Weights.Path.Should().Be(bin);
            component.Weights.ParameterCount.Should().Be(tensors.Values.Sum(t => t.numel()));
            using var loaded = CLIPTextModel.FromPretrained(component);
            var expected = model.state_dict();
            foreach (var (name, p) in loaded.state_dict()) p.eq(expected[name]).all().item<bool>().Should().BeTrue(name);
            foreach (var t in tensors.Values) t.Dispose();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    [Trait("Category", Infrastructure.Golden.Category)]
    public void The_golden_vae_saved_as_diffusion_pytorch_model_bin_loads_like_its_safetensors()
    {
        using var dir = new TempDir();
        var golden = Infrastructure.Golden.PathOf("tiny-sd1", "vae");
        var vae = dir.File("vae");
        Directory.CreateDirectory(vae);
        File.Copy(Path.Combine(golden, "config.json"), Path.Combine(vae, "config.json"));
        var tensors = Safetensors.LoadAll(Path.Combine(golden, "diffusion_pytorch_model.safetensors"));
        File.WriteAllBytes(Path.Combine(vae, "diffusion_pytorch_model.bin"), TorchPickleWriter.SaveZip(tensors));
        foreach (var t in tensors.Values) t.Dispose();

        using var fromSafetensors = DreamBooth.Models.Vae.AutoencoderKL.FromPretrained(Infrastructure.Golden.PathOf("tiny-sd1", "vae"));
        using var fromPickle = DreamBooth.Models.Vae.AutoencoderKL.FromPretrained(ModelComponent.Open(vae, new ModelFolderOptions(AllowPickle: true)));
        var expected = fromSafetensors.state_dict();
        var actual = fromPickle.state_dict();
        actual.Keys.Should().BeEquivalentTo(expected.Keys);
        foreach (var (name, p) in actual) p.eq(expected[name]).all().item<bool>().Should().BeTrue(name);
    }

    [Fact]
    public void Diffusers_bin_weights_load_in_a_pipeline_folder_and_safetensors_still_win()
    {
        using var dir = new TempDir();
        dir.Text("sd/model_index.json", """{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}""");
        dir.Text("sd/unet/config.json", """{"_class_name": "UNet2DConditionModel"}""");
        using var w = ones(2, 2);
        var bin = dir.File("sd", "unet", "diffusion_pytorch_model.bin");
        File.WriteAllBytes(bin, TorchPickleWriter.SaveZip(new Dictionary<string, Tensor> { ["w"] = w }));
        var root = Path.Combine(dir.Path, "sd");
        var options = new ModelFolderOptions(AllowPickle: true);

        var unet = ModelFolder.Open(root, options)["unet"];
        unet.Weights!.IsPickle.Should().BeTrue();
        using (var sd = unet.OpenWeights()) sd.Should().BeOfType<PickleCheckpoint>();
        var state = unet.LoadStateDict();
        state["w"].sum().item<float>().Should().Be(4);
        foreach (var t in state.Values) t.Dispose();

        Safetensors.Save(dir.File("sd", "unet", "diffusion_pytorch_model.safetensors"), new Dictionary<string, Tensor> { ["w"] = w });
        ModelFolder.Open(root, options)["unet"].Weights!.IsPickle.Should().BeFalse();
    }

    [Fact]
    public void With_allow_pickle_a_hostile_bin_still_fails_the_folder_and_other_pickle_names_are_not_read()
    {
        using var dir = new TempDir();
        dir.Text("sd/model_index.json", """{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}""");
        dir.Text("sd/unet/config.json", """{"_class_name": "UNet2DConditionModel"}""");
        var root = Path.Combine(dir.Path, "sd");
        var options = new ModelFolderOptions(AllowPickle: true);

        var bin = dir.File("sd", "unet", "diffusion_pytorch_model.bin");
        File.WriteAllBytes(bin, TorchPickleWriter.Zip(new PickleBuilder().Proto(2).Global("os", "system").Str("true").Op(0x85).Reduce().Stop().ToArray(), []));
        var act = () => ModelFolder.Open(root, options);
        act.Should().Throw<DreamBoothException>().Which.Message.Should().StartWith(bin).And.Contain("'os.system'");

        File.Move(bin, dir.File("sd", "unet", "unet.ckpt"));
        act.Should().Throw<DreamBoothException>().Which.Message.Should().Contain("unet.ckpt: pickle weights are allowed but read only under the diffusers/transformers names diffusion_pytorch_model.bin or pytorch_model.bin");
    }
}
